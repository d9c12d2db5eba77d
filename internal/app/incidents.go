package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/incidents"
)

// checkIncidentWebhook checks --incident-webhook-url and its secret.
func checkIncidentWebhook(rawURL, secret string) error {
	if rawURL == "" {
		if secret != "" {
			return errors.New("--incident-webhook-secret without --incident-webhook-url")
		}
		return nil
	}
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--incident-webhook-url %q: use an http or https URL", rawURL)
	}
	if secret == "" {
		return errors.New("--incident-webhook-url needs --incident-webhook-secret (the notices are signed)")
	}
	return nil
}

// startIncidentNotifier starts the incident webhook notifier when one is configured;
// without one it only fingerprints the incidents written before fingerprints existed
// (the notifier does that too, in the background). stop ends it.
func startIncidentNotifier(ctx context.Context, cfg *serveConfig, st store.Store, log *slog.Logger) (stop func(context.Context), err error) {
	if cfg.IncidentWebhook == "" {
		n, err := incidents.Backfill(ctx, st)
		if err != nil {
			return nil, err
		}
		if n > 0 {
			log.Info("fingerprinted older incidents", "count", n)
		}
		return func(context.Context) {}, nil
	}
	nt, err := incidents.NewNotifier(incidents.NotifierOptions{Store: st, URL: cfg.IncidentWebhook,
		Secret: cfg.IncidentWebhookSecret, Logger: log})
	if err != nil {
		return nil, err
	}
	if err := nt.Start(ctx); err != nil {
		return nil, err
	}
	log.Info("incident webhook on", "url", redactURL(cfg.IncidentWebhook))
	return func(sctx context.Context) {
		if err := nt.Stop(sctx); err != nil {
			log.Error("stop incident notifier", "err", err)
		}
	}, nil
}

// redactURL drops a URL's user information and query (they may hold tokens) for logs.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable)"
	}
	u.User, u.RawQuery = nil, ""
	return u.String()
}
