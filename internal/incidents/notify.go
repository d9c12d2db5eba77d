package incidents

// The webhook notifier: a POST per new fingerprint (a cause never seen before), from the
// group records the store writes with a fingerprint's first open incident (outbox rows).
//
// Delivery:
//   - A pass reads at most Batch due notices. Each is claimed for one attempt with a
//     compare-and-set on its attempt count (ClaimIncidentNotice), so with several nodes
//     one sends it; the claim moves its next attempt past the request's timeout, so a
//     node that dies mid-attempt leaves it to a later pass.
//   - A 2xx answer marks it delivered. Anything else is retried after a backoff
//     (BaseBackoff doubling up to MaxBackoff, on the injected clock) until MaxAttempts,
//     then it is failed with the last error. A notice older than MaxAge is expired
//     unsent: the queue is bounded, and a webhook configured late does not receive a
//     backlog of old causes.
//   - At least once: a node that dies after the receiver answered and before the row was
//     updated sends again. X-Cockpit-Delivery (the fingerprint) is stable across
//     attempts, for receivers to drop repeats.
//   - Signature: X-Cockpit-Signature is "sha256=" and the hex HMAC-SHA256, keyed with the
//     secret, of X-Cockpit-Timestamp (unix seconds), ".", and the body.

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/cockpit-engine/cockpit/internal/clock"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/startstop"
)

// Notifier defaults.
const (
	DefaultNotifyInterval    = 5 * time.Second
	DefaultNotifyBatch       = 20
	DefaultNotifyAttempts    = 8
	DefaultNotifyBaseBackoff = 2 * time.Second
	DefaultNotifyMaxBackoff  = 5 * time.Minute
	DefaultNotifyTimeout     = 10 * time.Second
	DefaultNotifyMaxAge      = 24 * time.Hour
	// MaxNotifyBatch bounds Batch.
	MaxNotifyBatch = 1000
	// maxResponseBytes is how much of an answer is read (for the error message).
	maxResponseBytes = 512
)

// Webhook headers.
const (
	HeaderSignature = "X-Cockpit-Signature"
	HeaderTimestamp = "X-Cockpit-Timestamp"
	HeaderDelivery  = "X-Cockpit-Delivery"
	HeaderEvent     = "X-Cockpit-Event"
	// EventNewGroup is the one event sent: a fingerprint seen for the first time.
	EventNewGroup = "incident.group.new"
)

// NotifierOptions configure a Notifier. Zero values take the defaults.
type NotifierOptions struct {
	Store store.Store // required
	// URL is the webhook (required, http or https); Secret keys the signature (required).
	URL    string
	Secret string
	Clock  clock.Clock
	Client *http.Client // default: a client with Timeout
	Logger *slog.Logger
	// BaseURL is the cockpit's address, for links in the notice ("" none).
	BaseURL     string
	Interval    time.Duration
	Batch       int
	MaxAttempts int
	BaseBackoff time.Duration
	MaxBackoff  time.Duration
	Timeout     time.Duration
	MaxAge      time.Duration
}

// Notifier sends the webhook notices of new fingerprints (see the comment above). It
// also fingerprints older incidents (Backfill) when it starts.
type Notifier struct {
	o      NotifierOptions
	runner startstop.Runner
}

// Notice is the JSON body of a webhook request.
type Notice struct {
	Event           string    `json:"event"`
	Fingerprint     string    `json:"fingerprint"`
	DefinitionKey   string    `json:"definitionKey"`
	ElementID       string    `json:"elementId"`
	Type            string    `json:"type"`
	ErrorCode       string    `json:"errorCode,omitempty"`
	Message         string    `json:"message"`
	FirstIncidentID string    `json:"firstIncidentId"`
	FirstSeen       time.Time `json:"firstSeen"`
	Attempt         int       `json:"attempt"`
	URL             string    `json:"url,omitempty"`
}

// NewNotifier checks the options.
func NewNotifier(o NotifierOptions) (*Notifier, error) {
	if o.Store == nil {
		return nil, errors.New("incident notifier: Store is required")
	}
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("incident notifier: webhook URL %q is not an http(s) URL", o.URL)
	}
	if o.Secret == "" {
		return nil, errors.New("incident notifier: a webhook secret is required (the requests are signed)")
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.Interval, DefaultNotifyInterval)
	def(&o.BaseBackoff, DefaultNotifyBaseBackoff)
	def(&o.MaxBackoff, DefaultNotifyMaxBackoff)
	def(&o.Timeout, DefaultNotifyTimeout)
	def(&o.MaxAge, DefaultNotifyMaxAge)
	if o.Batch <= 0 {
		o.Batch = DefaultNotifyBatch
	}
	if o.Batch > MaxNotifyBatch {
		return nil, fmt.Errorf("incident notifier: batch %d is more than %d", o.Batch, MaxNotifyBatch)
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = DefaultNotifyAttempts
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: o.Timeout}
	}
	return &Notifier{o: o, runner: startstop.Runner{Name: "incident notifier"}}, nil
}

// Start fingerprints older incidents in the background and then sends due notices
// every Interval until Stop.
func (n *Notifier) Start(ctx context.Context) error {
	return n.runner.Start(ctx, func(ctx context.Context, stopping <-chan struct{}) {
		if done, err := Backfill(ctx, n.o.Store); err != nil {
			n.o.Logger.Error("incident fingerprints", "err", err)
		} else if done > 0 {
			n.o.Logger.Info("fingerprinted older incidents", "count", done)
		}
		for {
			if _, err := n.Pass(ctx); err != nil && ctx.Err() == nil {
				n.o.Logger.Warn("incident notices", "err", err)
			}
			select {
			case <-stopping:
				return
			case <-ctx.Done():
				return
			case <-n.o.Clock.After(n.o.Interval):
			}
		}
	})
}

// Stop ends the loop (an attempt in flight is cancelled and retried later).
func (n *Notifier) Stop(ctx context.Context) error { return n.runner.Stop(ctx) }

// Pass sends the due notices once and returns how many it delivered.
func (n *Notifier) Pass(ctx context.Context) (int, error) {
	now := n.o.Clock.Now()
	var due []*store.IncidentGroupRecord
	err := n.o.Store.Read(ctx, func(tx store.Tx) error {
		var err error
		due, err = tx.DueIncidentNotices(ctx, now, n.o.Batch)
		return err
	})
	if err != nil {
		return 0, err
	}
	delivered := 0
	for _, g := range due {
		if ctx.Err() != nil {
			return delivered, ctx.Err()
		}
		ok, err := n.attempt(ctx, g, now)
		if err != nil {
			return delivered, err
		}
		if ok {
			delivered++
		}
	}
	return delivered, nil
}

// attempt claims one notice and sends it; it reports whether it was delivered.
func (n *Notifier) attempt(ctx context.Context, g *store.IncidentGroupRecord, now time.Time) (bool, error) {
	if now.Sub(g.FirstSeen) > n.o.MaxAge {
		return false, n.update(ctx, g.Fingerprint, store.NoticeExpired, now,
			fmt.Sprintf("not sent: older than %s when due", n.o.MaxAge), nil)
	}
	claimed := false
	err := n.o.Store.Write(ctx, func(tx store.Tx) error {
		var err error
		claimed, err = tx.ClaimIncidentNotice(ctx, g.Fingerprint, g.NotifyAttempts, now.Add(2*n.o.Timeout))
		return err
	})
	if err != nil || !claimed {
		return false, err
	}
	attempt := g.NotifyAttempts + 1
	sendErr := n.send(ctx, g, attempt, now)
	if ctx.Err() != nil {
		return false, ctx.Err() // the claim expires and the notice is sent again
	}
	switch {
	case sendErr == nil:
		return true, n.update(ctx, g.Fingerprint, store.NoticeDelivered, now, "", &now)
	case attempt >= n.o.MaxAttempts:
		n.o.Logger.Warn("incident notice failed", "fingerprint", g.Fingerprint, "attempts", attempt, "err", sendErr)
		return false, n.update(ctx, g.Fingerprint, store.NoticeFailed, now, sendErr.Error(), nil)
	default:
		return false, n.update(ctx, g.Fingerprint, store.NoticePending, now.Add(n.backoff(attempt)), sendErr.Error(), nil)
	}
}

// backoff is the wait after the attempt-th failed attempt.
func (n *Notifier) backoff(attempt int) time.Duration {
	d := n.o.BaseBackoff
	for i := 1; i < attempt && d < n.o.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, n.o.MaxBackoff)
}

func (n *Notifier) update(ctx context.Context, fp, state string, next time.Time, lastErr string, at *time.Time) error {
	return n.o.Store.Write(ctx, func(tx store.Tx) error {
		return tx.UpdateIncidentNotice(ctx, fp, state, next, lastErr, at)
	})
}

func (n *Notifier) send(ctx context.Context, g *store.IncidentGroupRecord, attempt int, now time.Time) error {
	body, err := json.Marshal(NoticeOf(g, attempt, n.o.BaseURL))
	if err != nil {
		return err
	}
	ts := strconv.FormatInt(now.Unix(), 10)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.o.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(HeaderEvent, EventNewGroup)
	req.Header.Set(HeaderDelivery, g.Fingerprint)
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, Sign(n.o.Secret, ts, body))
	resp, err := n.o.Client.Do(req)
	if err != nil {
		return fmt.Errorf("post to webhook: %w", err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("webhook answered %s: %.200s", resp.Status, snippet)
	}
	return nil
}

// NoticeOf is the body of a group's notice.
func NoticeOf(g *store.IncidentGroupRecord, attempt int, baseURL string) Notice {
	nt := Notice{Event: EventNewGroup, Fingerprint: g.Fingerprint, DefinitionKey: g.DefinitionKey, ElementID: g.ElementID,
		Type: g.Type, ErrorCode: g.ErrorCode, Message: g.Message, FirstIncidentID: g.FirstIncidentID, FirstSeen: g.FirstSeen,
		Attempt: attempt}
	if baseURL != "" {
		nt.URL = baseURL + "/incidents?fingerprint=" + url.QueryEscape(g.Fingerprint)
	}
	return nt
}

// Sign returns the X-Cockpit-Signature of a body sent at timestamp ts.
func Sign(secret, ts string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte("."))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify checks a signature made by Sign (in constant time), for receivers written in Go.
func Verify(secret, ts string, body []byte, signature string) bool {
	return hmac.Equal([]byte(Sign(secret, ts, body)), []byte(signature))
}
