package app

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeCert writes a self-signed certificate for 127.0.0.1 (serial n) and its key as
// PEM files in dir; it returns their paths and the certificate.
func writeCert(t *testing.T, dir string, n int64) (certFile, keyFile string, cert *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(n), Subject: pkix.Name{CommonName: "cockpit test"},
		NotBefore: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2036, 1, 1, 0, 0, 0, 0, time.UTC),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	if cert, err = x509.ParseCertificate(der); err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, cert
}

// TestServeTLS: with --tls-cert and --tls-key serve answers HTTPS (TLS 1.2 at least)
// with HSTS, and plain HTTP is refused; one flag alone, or files that do not load, stop
// serve with a message naming the problem.
func TestServeTLS(t *testing.T) {
	t.Parallel()
	certFile, keyFile, cert := writeCert(t, t.TempDir(), 1)
	s := startServer(t, "--tls-cert", certFile, "--tls-key", keyFile)
	defer s.stop()
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true,
		TLSClientConfig: &tls.Config{RootCAs: pool, MaxVersion: tls.VersionTLS12}}}
	base := strings.Replace(s.base, "http://", "https://", 1)
	res, err := client.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(res.Header.Get("Strict-Transport-Security"), "max-age=") ||
		res.TLS == nil || res.TLS.Version != tls.VersionTLS12 {
		t.Errorf("https: %d, HSTS %q, TLS %+v", res.StatusCode, res.Header.Get("Strict-Transport-Security"), res.TLS)
	}
	old := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true,
		TLSClientConfig: &tls.Config{RootCAs: pool, MaxVersion: tls.VersionTLS11}}}
	if _, err := old.Get(base + "/healthz"); err == nil {
		t.Error("TLS 1.1 was accepted")
	}
	if res, err := s.client.Get(s.base + "/healthz"); err == nil {
		res.Body.Close()
		if res.StatusCode == http.StatusOK {
			t.Error("plain HTTP answered on the HTTPS port")
		}
	}

	if r := runApp(t, nil, "serve", "--tls-cert", certFile); r.code == exitOK || !strings.Contains(r.stderr, "go together") {
		t.Errorf("--tls-cert alone: exit %d\n%s", r.code, r.stderr)
	}
	if r := runApp(t, nil, "serve", "--data-dir", t.TempDir(), "--addr", "127.0.0.1:0", "--tls-cert", keyFile, "--tls-key", keyFile); r.code == exitOK ||
		!strings.Contains(r.stderr, "--tls-cert") {
		t.Errorf("a key as the certificate: exit %d\n%s", r.code, r.stderr)
	}
}

// TestCertReload: a renewed certificate is served after the next check (a minute on the
// reloader's clock); a pair that does not load leaves the last good one.
func TestCertReload(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, first := writeCert(t, dir, 1)
	r, err := newCertReloader(certFile, keyFile, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	r.now = func() time.Time { return now }
	r.checked = now
	serial := func() int64 {
		c, err := r.getCertificate(nil)
		if err != nil {
			t.Fatal(err)
		}
		leaf, err := x509.ParseCertificate(c.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		return leaf.SerialNumber.Int64()
	}
	if serial() != first.SerialNumber.Int64() {
		t.Fatal("not the first certificate")
	}
	_, _, second := writeCert(t, dir, 2)
	// Modification times may not move within the file system's resolution: make sure.
	later := time.Date(2026, 12, 7, 12, 0, 30, 0, time.UTC)
	for _, f := range []string{certFile, keyFile} {
		if err := os.Chtimes(f, later, later); err != nil {
			t.Fatal(err)
		}
	}
	if serial() != 1 {
		t.Error("reloaded before the check interval")
	}
	now = now.Add(certCheckEvery)
	if got := serial(); got != second.SerialNumber.Int64() {
		t.Errorf("after the interval: serial %d, want %d", got, second.SerialNumber.Int64())
	}
	if err := os.WriteFile(certFile, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	now = now.Add(certCheckEvery)
	if got := serial(); got != 2 {
		t.Errorf("a broken file replaced the certificate: serial %d", got)
	}
}
