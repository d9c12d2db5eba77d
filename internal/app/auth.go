package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/cockpit-engine/cockpit/internal/auth"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// startAuth makes the sign-in service of --auth local, and the first admin on a store
// without users: with COCKPIT_ADMIN_PASSWORD, or a random password printed once.
func startAuth(ctx context.Context, cfg *serveConfig, st store.Store, log *slog.Logger) (*auth.Service, *auth.OIDC, error) {
	svc, err := auth.New(auth.Options{Store: st, Idle: cfg.SessionIdle, MaxAge: cfg.SessionMaxAge, Logger: log})
	if err != nil {
		return nil, nil, err
	}
	pw, err := svc.Bootstrap(ctx, cfg.AdminPassword)
	if err != nil {
		return nil, nil, fmt.Errorf("--auth local: %w", err)
	}
	if pw != "" {
		log.Warn("first start with --auth local: user admin was made with a one-time random password (shown only now); sign in with it",
			"user", "admin", "password", pw)
	}
	if cfg.OIDCIssuer == "" {
		return svc, nil, nil
	}
	roles, err := parseOIDCRoles(cfg.OIDCRoles)
	if err != nil {
		return nil, nil, err
	}
	var def auth.Role
	if cfg.OIDCDefaultRole != "" {
		if def, err = auth.ParseRole(cfg.OIDCDefaultRole); err != nil {
			return nil, nil, err
		}
	}
	sso, err := svc.NewOIDC(ctx, auth.OIDCOptions{Issuer: cfg.OIDCIssuer, ClientID: cfg.OIDCClientID, ClientSecret: cfg.OIDCClientSecret,
		RedirectURL: cfg.OIDCRedirectURL, RoleClaim: cfg.OIDCRoleClaim, Roles: roles, DefaultRole: def})
	if err != nil {
		return nil, nil, fmt.Errorf("--oidc-issuer: %w", err)
	}
	return svc, sso, nil
}

// parseOIDCRoles reads --oidc-roles: value=role, comma-separated.
func parseOIDCRoles(s string) (map[string]auth.Role, error) {
	out := map[string]auth.Role{}
	for _, item := range splitList(s) {
		v, r, ok := strings.Cut(item, "=")
		if !ok || strings.TrimSpace(v) == "" {
			return nil, fmt.Errorf("--oidc-roles %q: write value=role, e.g. ops=operator", item)
		}
		role, err := auth.ParseRole(strings.TrimSpace(r))
		if err != nil {
			return nil, fmt.Errorf("--oidc-roles %q: %v", item, err)
		}
		out[strings.TrimSpace(v)] = role
	}
	return out, nil
}

// requireRead lets through requests of a signed-in user or an API token with the read
// permission (svc nil: everyone); others get 401 JSON.
func requireRead(svc *auth.Service, next http.Handler) http.Handler {
	if svc == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := svc.Request(r)
		switch {
		case errors.Is(err, auth.ErrUnauthenticated):
			w.Header().Set("WWW-Authenticate", `Bearer realm="cockpit"`)
			writeAuthError(w, http.StatusUnauthorized, "sign in, or send an API token as Authorization: Bearer ck_…")
			return
		case err != nil:
			writeAuthError(w, http.StatusInternalServerError, "could not check the credentials")
			return
		case !id.Role.Can(auth.Read):
			writeAuthError(w, http.StatusForbidden, "the role "+id.Role.String()+" may not read this")
			return
		}
		next.ServeHTTP(w, r.WithContext(auth.WithIdentity(r.Context(), id)))
	})
}

func writeAuthError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// workerToken checks a job worker's API token: a user's with a role that may act (it
// completes and fails jobs); it returns the job types the token is limited to.
func workerToken(svc *auth.Service) func(ctx context.Context, token string) ([]string, error) {
	return func(ctx context.Context, token string) ([]string, error) {
		id, err := svc.Token(ctx, token)
		if err != nil {
			return nil, err
		}
		if !id.Role.Can(auth.Act) {
			return nil, fmt.Errorf("the token of %s has the role %s; job workers need operator", id.Name, id.Role)
		}
		return id.JobTypes, nil
	}
}
