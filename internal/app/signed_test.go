package app

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nkeys"

	"github.com/cockpit-engine/cockpit/internal/wait"
)

// TestServeSignedCommands: serve with --command-key and --command-trusted-keys takes the
// commands its web UI signs (a cancel goes through, recorded under the web actor) and
// refuses a request sent over NATS without a signature, whatever actor it names.
func TestServeSignedCommands(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv := embeddedNATS(t)
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := kp.Seed()
	pub, _ := kp.PublicKey()
	keyFile := filepath.Join(t.TempDir(), "cockpit.nk")
	if err := os.WriteFile(keyFile, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, "--demo-rate", "20", "--nats-url", srv.ClientURL(), "--web-actor", "ops-desk",
		"--command-key", keyFile, "--command-trusted-keys", pub)
	defer s.stop()
	var running struct {
		Instances []struct{ ID string }
	}
	wait.For(t, "a running instance", func() bool {
		s.get("/api/instances?state=active&limit=2", &running)
		return len(running.Instances) == 2
	})
	a, b := running.Instances[0].ID, running.Instances[1].ID

	// Over NATS without a signature: refused.
	nc, err := srv.Connect(ctx, t.Name())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	msg, err := nc.Request("cockpit.cmd.instance.cancel", []byte(`{"actor":"mallory","instanceId":"`+b+`"}`), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		OK    bool
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal(msg.Data, &rep); err != nil || rep.OK || rep.Error.Code != "unauthorized" {
		t.Fatalf("an unsigned command: %s", msg.Data)
	}

	// From the web UI: signed, carried out, recorded under the web actor.
	form := url.Values{"reason": {"signed"}, "confirm": {"yes"}}
	req, _ := http.NewRequest(http.MethodPost, s.base+"/instances/"+a+"/cancel", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || strings.Contains(string(body), "unauthorized") {
		t.Fatalf("the web UI's cancel: %d\n%.600s", resp.StatusCode, body)
	}
	var detail struct {
		Instance struct{ State string }
	}
	s.get("/api/instances/"+a, &detail)
	if detail.Instance.State != "cancelled" {
		t.Errorf("after the signed cancel: %q", detail.Instance.State)
	}
	s.get("/api/instances/"+b, &detail)
	if detail.Instance.State == "cancelled" {
		t.Error("the unsigned cancel was carried out")
	}
	if !strings.Contains(s.stderr.String(), pub) {
		t.Error("serve did not log the public key it signs with")
	}

	// A key file that holds no user seed stops serve with the reason.
	bad := filepath.Join(t.TempDir(), "bad.nk")
	if err := os.WriteFile(bad, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := runApp(t, nil, "serve", "--data-dir", t.TempDir(), "--addr", "127.0.0.1:0", "--command-key", bad); r.code == exitOK ||
		!strings.Contains(r.stderr, "--command-key") {
		t.Errorf("a bad key file: exit %d\n%s", r.code, r.stderr)
	}
}
