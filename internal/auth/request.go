package auth

import (
	"net/http"
	"strings"
)

// SessionCookie is the session cookie's name.
const SessionCookie = "cockpit_session"

// Bearer reads an API token from an Authorization header value ("Bearer ck_…"); ok is
// false when the value is not of that form.
func Bearer(header string) (token string, ok bool) {
	token, ok = strings.CutPrefix(header, "Bearer ")
	return strings.TrimSpace(token), ok
}

// Request tells who an HTTP request comes from: its bearer token, else its session
// cookie; ErrUnauthenticated when it carries neither, or one that is refused.
func (s *Service) Request(r *http.Request) (*Identity, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		token, ok := Bearer(h)
		if !ok {
			return nil, ErrUnauthenticated
		}
		return s.Token(r.Context(), token)
	}
	ck, err := r.Cookie(SessionCookie)
	if err != nil {
		return nil, ErrUnauthenticated
	}
	return s.Session(r.Context(), ck.Value)
}
