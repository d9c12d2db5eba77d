package web

// The edge of the HTTP server: what every request passes before any handler (Guard, which
// `cockpit serve` puts around everything it serves: UI, JSON API, /metrics and health),
// and what every UI route passes after routing (checkParams). A refusal here names the
// limit or the parameter, so a client can tell what to change.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
	"github.com/cockpit-engine/cockpit/web/templates/components"
)

// Limits of a request, enforced at the edge.
const (
	// MaxParamBytes bounds one path or query parameter (ids, keys, filters, cursors). The
	// longest legitimate value is a business key or variable filter; a longer one is a 400
	// that names the parameter, before any store reads it.
	MaxParamBytes = 8 << 10
	// MaxBodyBytes bounds the body of every request but a deploy (forms, and anything
	// posted to the JSON API): a variables form with large values fits; more is a 413.
	MaxBodyBytes = 4 << 20
	// MaxDeployBodyBytes bounds a deploy's upload: the largest BPMN document and the
	// multipart framing around it.
	MaxDeployBodyBytes = bpmn.MaxDocumentBytes + multipartSlack
)

// GuardOptions configure Guard.
type GuardOptions struct {
	// AllowedHosts are the host names (any port) or host:port pairs a request's Host
	// header may name; "*" allows any. localhost and every IP address (127.0.0.1,
	// 10.1.2.3, [::1]) are always allowed, with any port.
	AllowedHosts []string
	// HSTS sets Strict-Transport-Security (the server answers HTTPS only: serve's
	// --tls-cert): browsers then refuse plain HTTP to this host for a year.
	HSTS bool
}

// Guard is the outermost handler: it sets the security headers on every answer
// (pages, API, metrics, health, static files, errors and redirects), refuses a Host it
// does not serve (DNS rebinding: a page elsewhere whose name resolves to this server
// must not read or change anything), and bounds the request body.
func Guard(next http.Handler, opts GuardOptions) http.Handler {
	allowed := newHostPolicy(opts.AllowedHosts)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setSecurityHeaders(w.Header())
		if opts.HSTS {
			w.Header().Set("Strict-Transport-Security", "max-age=31536000")
		}
		if !allowed.ok(r.Host) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusMisdirectedRequest)
			fmt.Fprintf(w, "421 Misdirected Request: this cockpit does not serve the host %q. "+
				"If that is its name, add it with --allowed-hosts (COCKPIT_ALLOWED_HOSTS).\n", r.Host)
			return
		}
		// The handler that reads the body answers 413 with a page naming the limit
		// (checkParams for forms, deploy for its upload); nothing reads past it.
		limit := int64(MaxBodyBytes)
		if r.URL.Path == "/deploy" {
			limit = MaxDeployBodyBytes
		}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = http.MaxBytesReader(w, r.Body, limit)
		}
		next.ServeHTTP(w, r)
	})
}

// setSecurityHeaders sets the headers every answer carries. The CSP allows no inline
// script (app.js binds every handler) and no inline style: diagrams are drawn without
// their <style> and styled by /static/diagram.css. No page may be framed.
func setSecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; "+
		"img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "+
		"form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()")
}

// hostPolicy is the set of Host values Guard accepts.
type hostPolicy struct {
	any   bool
	names map[string]bool // host names, any port
	pairs map[string]bool // host:port
}

// loopbackHosts are always allowed: a browser reaching them is on this machine, and a
// rebinding attack cannot make a browser send them for another site.
var loopbackHosts = []string{"localhost", "127.0.0.1", "::1"}

func newHostPolicy(hosts []string) *hostPolicy {
	p := &hostPolicy{names: map[string]bool{}, pairs: map[string]bool{}}
	for _, h := range loopbackHosts {
		p.names[h] = true
	}
	for _, h := range hosts {
		h = strings.ToLower(strings.TrimSpace(h))
		switch {
		case h == "":
		case h == "*":
			p.any = true
		default:
			if host, port, err := net.SplitHostPort(h); err == nil {
				p.pairs[net.JoinHostPort(normHost(host), port)] = true
			} else {
				p.names[normHost(h)] = true
			}
		}
	}
	return p
}

// normHost drops IPv6 brackets and a trailing dot ("example.com." is "example.com").
func normHost(h string) string {
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	return strings.TrimSuffix(h, ".")
}

func (p *hostPolicy) ok(hostHeader string) bool {
	if p.any {
		return true
	}
	h := strings.ToLower(hostHeader)
	host, port, err := net.SplitHostPort(h)
	if err != nil {
		host, port = h, ""
	}
	host = normHost(host)
	if host == "" {
		return false
	}
	// An IP literal names no domain, so no rebinding can put it in a browser's Host for
	// another site; it is how probes and scrapers (kubelet, Prometheus) reach a pod.
	if net.ParseIP(host) != nil {
		return true
	}
	return p.names[host] || (port != "" && p.pairs[net.JoinHostPort(host, port)])
}

// CheckAllowedHosts reports the first entry of a --allowed-hosts list that is not a host
// name, an IP address or host:port.
func CheckAllowedHosts(hosts []string) error {
	for _, h := range hosts {
		h = strings.TrimSpace(h)
		if h == "" || h == "*" {
			continue
		}
		host := h
		if hh, port, err := net.SplitHostPort(h); err == nil {
			if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
				return fmt.Errorf("allowed host %q: the port must be a number from 1 to 65535", h)
			}
			host = hh
		}
		host = normHost(host)
		if host == "" || strings.ContainsAny(host, "/\\@ \t\r\n?#") {
			return fmt.Errorf("allowed host %q: use a host name, an IP address or host:port", h)
		}
	}
	return nil
}

// ParamError is a request parameter the server refuses: a 400 that names it.
type ParamError struct {
	Param   string
	Problem string
}

func (e *ParamError) Error() string { return fmt.Sprintf("parameter %s: %s", e.Param, e.Problem) }

// CheckParam refuses a parameter value no route accepts: a NUL or other control
// character but tab and newline, invalid UTF-8, or more than MaxParamBytes.
func CheckParam(name, value string) error {
	return checkValue(name, value, MaxParamBytes)
}

func checkValue(name, value string, limit int) error {
	if len(value) > limit {
		return &ParamError{Param: quoteParam(name), Problem: fmt.Sprintf("%d bytes, more than the limit of %d bytes", len(value), limit)}
	}
	if !utf8.ValidString(value) {
		return &ParamError{Param: quoteParam(name), Problem: "not valid UTF-8"}
	}
	for _, r := range value {
		if (r < 0x20 && r != '\t' && r != '\n' && r != '\r') || r == 0x7f {
			return &ParamError{Param: quoteParam(name), Problem: fmt.Sprintf("contains the control character %U", r)}
		}
	}
	return nil
}

// quoteParam names a parameter in an error, safely even when the name is itself hostile.
func quoteParam(name string) string {
	return strconv.Quote(strings.ToValidUTF8(components.Clip(name, quotedNameChars), "\uFFFD"))
}

// quotedNameChars bounds a parameter's name quoted in an error.
const quotedNameChars = 64

// CheckQuery parses a raw query string and checks every name and value in it.
func CheckQuery(raw string) error {
	q, err := url.ParseQuery(raw)
	if err != nil {
		var bad url.EscapeError
		if errors.As(err, &bad) {
			return &ParamError{Param: "(query string)", Problem: fmt.Sprintf("malformed escape %q", string(bad))}
		}
		return &ParamError{Param: "(query string)", Problem: err.Error()}
	}
	for name, vs := range q {
		if err := CheckParam("(a parameter name)", name); err != nil {
			return err
		}
		for _, v := range vs {
			if err := CheckParam(name, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkParams is the UI's parameter check (after routing, so path parameters have their
// names): every path and query parameter, and the fields of a posted form, go through
// CheckParam (form fields may be as long as the body), and a body over its limit is a
// 413 that names the limit. Handlers then only check meaning (a state name, a number).
func (s *server) checkParams(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		names, values := c.ParamNames(), c.ParamValues()
		for i, name := range names {
			if i < len(values) {
				if err := CheckParam(name, values[i]); err != nil {
					return badRequest("%v", err)
				}
			}
		}
		if err := CheckQuery(c.Request().URL.RawQuery); err != nil {
			return badRequest("%v", err)
		}
		r := c.Request()
		if r.Method == http.MethodPost && c.Path() != "/deploy" {
			// Guard bounds the body too; this holds where the UI is served without it.
			r.Body = http.MaxBytesReader(c.Response(), r.Body, MaxBodyBytes)
			form, err := c.FormParams()
			var mbe *http.MaxBytesError
			switch {
			case errors.As(err, &mbe):
				return &pageError{Status: http.StatusRequestEntityTooLarge, Title: "Form too large",
					Message: fmt.Sprintf("The form is larger than %d MiB (MaxBodyBytes), the most a form may carry. Nothing was changed.", MaxBodyBytes>>20)}
			case err != nil:
				return badRequest("The form could not be read: %v", err)
			}
			for name, vs := range form {
				if err := CheckParam("(a form field name)", name); err != nil {
					return badRequest("%v", err)
				}
				for _, v := range vs {
					if err := checkValue(name, v, MaxBodyBytes); err != nil {
						return badRequest("%v", err)
					}
				}
			}
		}
		return next(c)
	}
}

// jsonHasNUL tells whether a JSON document holds a string (or key) with a NUL character
// (the escape \u0000): PostgreSQL's jsonb refuses it, so a filter with one can match
// nothing and is refused at the edge instead of failing in the store.
func jsonHasNUL(doc []byte) bool {
	if !bytes.Contains(doc, []byte(`\u0000`)) {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		if s, ok := tok.(string); ok && strings.ContainsRune(s, 0) {
			return true
		}
	}
}
