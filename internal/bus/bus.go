// Package bus is Cockpit's NATS event fabric: the embedded NATS server (or a connection
// to an external one), the JetStream streams events land in, and the transactional
// outbox relay that moves committed history events from the store to those streams.
//
// The engine never talks to NATS. It writes every history event and an outbox row in the
// transaction of the change; the Relay publishes outbox rows with the event id as the
// JetStream message id and deletes a row only after the server acknowledged it. NATS being
// down therefore delays events and never loses them, and a relay that publishes a row twice
// (it crashed before deleting it, or two nodes overlapped) is deduplicated by the stream.
// docs/events.md is the contract for subscribers: subjects, payload schema, stream limits.
// The package reads the store's rows and the names of package event; it does not import
// the engine.
package bus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// DefaultPrefix is the first subject token and the stream name prefix ("cockpit" makes
// cockpit.events.> in the stream COCKPIT_EVENTS).
const DefaultPrefix = "cockpit"

// Stream limits. They are the documented defaults of docs/events.md; StreamOptions
// overrides them.
const (
	DefaultEventsMaxAge      = 7 * 24 * time.Hour
	DefaultEventsMaxBytes    = 1 << 30 // 1 GiB
	DefaultIncidentsMaxAge   = 30 * 24 * time.Hour
	DefaultIncidentsMaxBytes = 256 << 20 // 256 MiB
	// DefaultDuplicates is the window in which the streams drop a message whose
	// Nats-Msg-Id they have already stored. A relay republishes a row at most a few
	// seconds after its first attempt (the next round), so two minutes is ample.
	DefaultDuplicates = 2 * time.Minute
)

// ErrInvalidPrefix is returned for a subject prefix that is not one or more tokens of
// letters, digits, '-' and '_' separated by dots.
var ErrInvalidPrefix = errors.New("invalid subject prefix")

// CheckPrefix reports whether p can be a subject prefix (ErrInvalidPrefix otherwise).
func CheckPrefix(p string) error {
	if p == "" {
		return fmt.Errorf("%w: empty", ErrInvalidPrefix)
	}
	for tok := range strings.SplitSeq(p, ".") {
		if tok == "" || SafeToken(tok) != tok {
			return fmt.Errorf("%w: %q (use letters, digits, '-' and '_', tokens separated by dots)", ErrInvalidPrefix, p)
		}
	}
	return nil
}

// SafeToken makes s one subject token: every character other than an ASCII letter,
// digit, '-' or '_' becomes '_' (dots, the wildcards '*' and '>', whitespace, non-ASCII),
// and the empty string becomes "_". Different keys can map to the same token
// ("a.b" and "a_b"); the payload carries the exact key.
func SafeToken(s string) string {
	if s == "" {
		return "_"
	}
	b := []byte(s)
	changed := false
	out := make([]byte, 0, len(b))
	for _, r := range s {
		if r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			out = append(out, byte(r))
			continue
		}
		out = append(out, '_')
		changed = true
	}
	if !changed {
		return s
	}
	return string(out)
}

// safeType keeps the dots of an event type ("instance.started" is two tokens, so
// cockpit.events.*.*.incident.> selects incidents of every process and service) and
// makes each part subject-safe.
func safeType(t string) string {
	if t == "" {
		return "_"
	}
	parts := strings.Split(t, ".")
	for i, p := range parts {
		parts[i] = SafeToken(p)
	}
	return strings.Join(parts, ".")
}

// streamBase turns a prefix into the start of a stream name: "cockpit" → "COCKPIT",
// "acme.cockpit-test" → "ACME_COCKPIT_TEST".
func streamBase(prefix string) string {
	return strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(prefix))
}

// EventsStream is the name of the events stream for a prefix (COCKPIT_EVENTS).
func EventsStream(prefix string) string { return streamBase(prefix) + "_EVENTS" }

// IncidentsStream is the name of the incidents stream for a prefix (COCKPIT_INCIDENTS).
func IncidentsStream(prefix string) string { return streamBase(prefix) + "_INCIDENTS" }

// StreamOptions configure EnsureStreams. Zero values take the documented defaults.
type StreamOptions struct {
	Prefix string // default DefaultPrefix
	// Replicas is the stream replica count on a clustered server (default 1).
	Replicas int

	EventsMaxAge      time.Duration // default 7 days
	EventsMaxBytes    int64         // default 1 GiB
	IncidentsMaxAge   time.Duration // default 30 days
	IncidentsMaxBytes int64         // default 256 MiB
	StallsMaxAge      time.Duration // default 30 days
	StallsMaxBytes    int64         // default 256 MiB
	ModelsMaxBytes    int64         // default 1 GiB (the models bucket, see ModelPublisher)
	Duplicates        time.Duration // default 2 minutes
}

func (o *StreamOptions) defaults() {
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	if o.EventsMaxAge <= 0 {
		o.EventsMaxAge = DefaultEventsMaxAge
	}
	if o.EventsMaxBytes <= 0 {
		o.EventsMaxBytes = DefaultEventsMaxBytes
	}
	if o.IncidentsMaxAge <= 0 {
		o.IncidentsMaxAge = DefaultIncidentsMaxAge
	}
	if o.IncidentsMaxBytes <= 0 {
		o.IncidentsMaxBytes = DefaultIncidentsMaxBytes
	}
	if o.StallsMaxAge <= 0 {
		o.StallsMaxAge = DefaultStallsMaxAge
	}
	if o.StallsMaxBytes <= 0 {
		o.StallsMaxBytes = DefaultStallsMaxBytes
	}
	if o.Duplicates <= 0 {
		o.Duplicates = DefaultDuplicates
	}
	if o.ModelsMaxBytes <= 0 {
		o.ModelsMaxBytes = DefaultModelsMaxBytes
	}
}

// StreamConfigs returns the configuration of the events and incidents streams.
func StreamConfigs(o StreamOptions) (events, incidents jetstream.StreamConfig, err error) {
	o.defaults()
	if err := CheckPrefix(o.Prefix); err != nil {
		return events, incidents, err
	}
	events = jetstream.StreamConfig{
		Name:        EventsStream(o.Prefix),
		Description: "Cockpit history events (schema cockpit.event/v1), one message per event, Nats-Msg-Id = event id",
		Subjects:    []string{o.Prefix + ".events.>"},
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		Storage:     jetstream.FileStorage,
		Replicas:    o.Replicas,
		MaxAge:      o.EventsMaxAge,
		MaxBytes:    o.EventsMaxBytes,
		Duplicates:  o.Duplicates,
	}
	incidents = events
	incidents.Name = IncidentsStream(o.Prefix)
	incidents.Description = "Cockpit incident.opened / incident.resolved events (schema cockpit.event/v1), for alerting"
	incidents.Subjects = []string{o.Prefix + ".incidents.>"}
	incidents.MaxAge = o.IncidentsMaxAge
	incidents.MaxBytes = o.IncidentsMaxBytes
	return events, incidents, nil
}

// EnsureStreams creates the events, incidents and stalls streams, or updates them to the
// configuration of o (an operator's own changes to limits are overwritten at start-up:
// the flags are the source of truth).
func EnsureStreams(ctx context.Context, js jetstream.JetStream, o StreamOptions) error {
	events, incidents, err := StreamConfigs(o)
	if err != nil {
		return err
	}
	stalls, err := StallStreamConfig(o)
	if err != nil {
		return err
	}
	for _, cfg := range []jetstream.StreamConfig{events, incidents, stalls} {
		if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("create or update stream %s: %w", cfg.Name, err)
		}
	}
	return nil
}

// DeleteStreams removes the streams and the models bucket of a prefix (tests on a shared
// server clean up with it). Streams that do not exist are not an error.
func DeleteStreams(ctx context.Context, js jetstream.JetStream, prefix string) error {
	var errs []error
	for _, name := range []string{EventsStream(prefix), IncidentsStream(prefix), StallsStream(prefix)} {
		if err := js.DeleteStream(ctx, name); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
			errs = append(errs, fmt.Errorf("delete stream %s: %w", name, err))
		}
	}
	if err := js.DeleteObjectStore(ctx, ModelsBucket(prefix)); err != nil && !errors.Is(err, jetstream.ErrBucketNotFound) &&
		!errors.Is(err, jetstream.ErrStreamNotFound) {
		errs = append(errs, fmt.Errorf("delete bucket %s: %w", ModelsBucket(prefix), err))
	}
	return errors.Join(errs...)
}
