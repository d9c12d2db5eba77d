package bus

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/cockpit-engine/cockpit/internal/event"
)

// Subject scheme versions (docs/events.md, "Subjects"). Version 2 puts the service
// token after the kind of subject; version 1 is the form before services had names,
// kept for subscribers not yet moved. The streams' filters (<prefix>.events.> and so on)
// hold both, so changing the version changes no stream.
const (
	// SubjectsV1: <prefix>.events.<definition>.<type>, <prefix>.incidents.<definition>,
	// <prefix>.stalls.<definition>.
	SubjectsV1 = 1
	// SubjectsV2: <prefix>.events.<service>.<definition>.<type>,
	// <prefix>.incidents.<service>.<definition>, <prefix>.stalls.<service>.<definition>.
	SubjectsV2 = 2
	// DefaultSubjects is the version an engine publishes unless told otherwise.
	DefaultSubjects = SubjectsV2
)

// MaxServiceBytes bounds a service name: it is a subject token and the first part of
// every model's object name, and is shown in every list of a cockpit that watches many
// services.
const MaxServiceBytes = 64

// fallbackService names a service whose host name gives nothing usable.
const fallbackService = "cockpit"

var (
	// ErrInvalidService is returned for a service name that is not 1 to MaxServiceBytes
	// ASCII letters, digits, '-' and '_'.
	ErrInvalidService = errors.New("invalid service name")
	// ErrInvalidSubjects is returned for a subject scheme version other than SubjectsV1
	// and SubjectsV2.
	ErrInvalidSubjects = errors.New("invalid subject scheme version")
)

// CheckService reports whether s can be a service name (ErrInvalidService otherwise).
// A name is checked, never changed: it is the service's identity in subjects, payloads
// and model keys, and a silently rewritten one would split a service in two.
func CheckService(s string) error {
	if s == "" || len(s) > MaxServiceBytes || SafeToken(s) != s {
		return fmt.Errorf("%w: %q (use 1 to %d ASCII letters, digits, '-' and '_')", ErrInvalidService, s, MaxServiceBytes)
	}
	return nil
}

// ServiceFromHost derives a service name from a host name: its first label ("web-1" of
// "web-1.example.com"), in lower case, made one subject token (SafeToken) and cut to
// MaxServiceBytes; "cockpit" when nothing is left.
func ServiceFromHost(host string) string {
	host, _, _ = strings.Cut(strings.TrimSpace(host), ".")
	s := SafeToken(strings.ToLower(host))
	if len(s) > MaxServiceBytes {
		s = s[:MaxServiceBytes]
	}
	if strings.Trim(s, "_") == "" {
		return fallbackService
	}
	return s
}

// DefaultService is the service name of an engine that was given none: ServiceFromHost
// of this machine's host name. Nodes of one service on several hosts get different
// defaults, so a service that runs on more than one node names itself.
func DefaultService() string {
	host, err := os.Hostname()
	if err != nil {
		return fallbackService
	}
	return ServiceFromHost(host)
}

// CheckSubjects reports whether v is a subject scheme version (ErrInvalidSubjects
// otherwise).
func CheckSubjects(v int) error {
	if v != SubjectsV1 && v != SubjectsV2 {
		return fmt.Errorf("%w: %d (use %d, or %d for the form without the service)", ErrInvalidSubjects, v, SubjectsV2, SubjectsV1)
	}
	return nil
}

// Subjects is where one engine publishes: the prefix, the engine's service and the
// scheme version. The zero Version is DefaultSubjects.
type Subjects struct {
	Prefix  string
	Service string
	Version int
}

// Check validates the prefix, the service and the version.
func (s Subjects) Check() error {
	if err := CheckPrefix(s.Prefix); err != nil {
		return err
	}
	if err := CheckService(s.Service); err != nil {
		return err
	}
	if s.Version == 0 {
		return nil
	}
	return CheckSubjects(s.Version)
}

func (s Subjects) v1() bool { return s.Version == SubjectsV1 }

// base is <prefix>.<kind> in version 1 and <prefix>.<kind>.<service> in version 2.
func (s Subjects) base(kind string) string {
	if s.v1() {
		return s.Prefix + "." + kind
	}
	return s.Prefix + "." + kind + "." + s.Service
}

// Event is where an event is published: <prefix>.events.<service>.<definition>.<type>
// (version 1: without the service), e.g. cockpit.events.orders.order.instance.started.
// The definition is one token, so cockpit.events.orders.order.> selects every event of
// the process "order" of the service "orders", and cockpit.events.*.order.> of every
// service.
func (s Subjects) Event(definitionKey string, eventType event.Type) string {
	return s.base("events") + "." + SafeToken(definitionKey) + "." + safeType(string(eventType))
}

// Incident is where incident.opened and incident.resolved events are published a
// second time, for alerting: <prefix>.incidents.<service>.<definition>.
func (s Subjects) Incident(definitionKey string) string {
	return s.base("incidents") + "." + SafeToken(definitionKey)
}

// Stall is where the stall detector publishes stall.detected and stall.cleared:
// <prefix>.stalls.<service>.<definition>.
func (s Subjects) Stall(definitionKey string) string {
	return s.base("stalls") + "." + SafeToken(definitionKey)
}

// EventFilter is the subject filter of the events of one process key ("" for every
// key) published in s's scheme by service ("" for every service; version 1 subjects
// name none). s.Service is not used: a page of the store shows what any engine on it
// published, whatever it called itself.
func (s Subjects) EventFilter(service, definitionKey string) string {
	b := s.Prefix + ".events"
	if !s.v1() {
		if service == "" {
			if definitionKey == "" {
				return b + ".>"
			}
			service = "*"
		}
		b += "." + service
	}
	if definitionKey == "" {
		return b + ".>"
	}
	return b + "." + SafeToken(definitionKey) + ".>"
}
