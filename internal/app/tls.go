package app

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// Built-in TLS (serve --tls-cert/--tls-key): the HTTP server answers HTTPS with the
// certificate and key files named, TLS 1.2 at least. A renewed certificate is taken up
// without a restart: the files are looked at again at most once a minute (on a
// handshake), and replaced when they changed and load; a pair that does not load is
// logged and the last good one stays.

// certCheckEvery is how often a handshake looks whether the files changed.
const certCheckEvery = time.Minute

// certReloader serves a certificate pair from files, reloading it when they change.
type certReloader struct {
	certFile, keyFile string
	log               *slog.Logger
	now               func() time.Time

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   string // the files' sizes and modification times when loaded
	checked time.Time
}

// newCertReloader loads the pair once; an error names the files and why.
func newCertReloader(certFile, keyFile string, log *slog.Logger) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile, log: log, now: time.Now}
	stamp, err := r.fileStamp()
	if err != nil {
		return nil, err
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert %s, --tls-key %s: %w", certFile, keyFile, err)
	}
	r.cert, r.stamp, r.checked = &cert, stamp, r.now()
	return r, nil
}

// fileStamp describes both files, so that a change of either shows.
func (r *certReloader) fileStamp() (string, error) {
	var stamp string
	for _, name := range []string{r.certFile, r.keyFile} {
		fi, err := os.Stat(name)
		if err != nil {
			return "", fmt.Errorf("TLS file: %w", err)
		}
		if fi.IsDir() {
			return "", fmt.Errorf("TLS file %s is a directory", name)
		}
		stamp += fmt.Sprintf("%s:%d:%d;", name, fi.Size(), fi.ModTime().UnixNano())
	}
	return stamp, nil
}

// getCertificate is the server's tls.Config.GetCertificate.
func (r *certReloader) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now := r.now(); now.Sub(r.checked) >= certCheckEvery {
		r.checked = now
		r.reload()
	}
	return r.cert, nil
}

// reload loads the pair again when the files changed (r.mu held).
func (r *certReloader) reload() {
	stamp, err := r.fileStamp()
	if err != nil {
		r.log.Error("TLS certificate: keeping the one loaded", "err", err)
		return
	}
	if stamp == r.stamp {
		return
	}
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		// Half-written (a renewal in progress) or wrong: the next check tries again.
		r.log.Error("TLS certificate changed but does not load; keeping the one loaded", "cert", r.certFile, "err", err)
		return
	}
	r.cert, r.stamp = &cert, stamp
	r.log.Info("TLS certificate reloaded", "cert", r.certFile)
}

// tlsConfig is the server's TLS configuration over r.
func (r *certReloader) tlsConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: r.getCertificate}
}

// checkTLSFlags: both files or neither.
func checkTLSFlags(cert, key string) error {
	if (cert == "") != (key == "") {
		return errors.New("--tls-cert and --tls-key go together: name both files (PEM), or neither for plain HTTP")
	}
	return nil
}
