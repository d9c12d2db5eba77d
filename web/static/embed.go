// Package static holds the cockpit's stylesheet, scripts and icons, built into the binary.
//
// The files are hand-written and small on purpose: no build step, no framework, and no
// inline script or style anywhere, so the pages run under a strict Content-Security-Policy.
package static

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
)

// FS holds the assets, served under /static/.
//
//go:embed app.css analytics.css app.js live.js theme.js favicon.svg
var FS embed.FS

// Version is a short hash of every asset. Pages link assets with ?v=Version, so a browser
// may cache them for good and still picks up a new binary's files at once.
var Version = func() string {
	h := sha256.New()
	_ = fs.WalkDir(FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := FS.ReadFile(path)
		if err != nil {
			return err
		}
		h.Write([]byte(path))
		h.Write(b)
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))[:12]
}()
