package command

import "time"

// SetSignerClock sets the clock a Signer dates its signatures by (tests on a fake clock).
func SetSignerClock(s *Signer, now func() time.Time) { s.now = now }

// Sign signs a request body for actor and verb as a Client with s would.
func Sign(s *Signer, actor, verb string, body []byte) (string, error) {
	return s.sign(actor, "", verb, body)
}

// SignAs signs a request for actor with a role.
func SignAs(s *Signer, actor, role, verb string, body []byte) (string, error) {
	return s.sign(actor, role, verb, body)
}

// CheckTrustedKeys checks trusted keys as Start does.
func CheckTrustedKeys(keys []string) error { _, err := newVerifier(keys, nil, false); return err }
