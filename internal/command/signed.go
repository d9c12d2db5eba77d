package command

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nkeys"

	"github.com/cockpit-engine/cockpit/internal/auth"
)

// VerbPermission is the permission a command needs when its signature names a role:
// reading operations needs read; setting a stall threshold needs administer; every other
// command (previews included: they are the first half of an action) needs act.
func VerbPermission(verb string) auth.Permission {
	switch verb {
	case VerbGetOperation, VerbListOperations:
		return auth.Read
	case VerbStallThreshold:
		return auth.Administer
	}
	return auth.Act
}

// mayRun refuses a verb to an actor whose role may not run it.
func mayRun(actor string, role auth.Role, verb string) error {
	if need := VerbPermission(verb); !role.Can(need) {
		return fmt.Errorf("%s is %s, and %s needs a role that may %s", actor, role, verb, need)
	}
	return nil
}

// Signed commands: a request's "actor" field is a claim anyone on the NATS account can
// make. A command service with trusted keys (Options.TrustedKeys) takes only requests
// that carry a signature by one of them (the Cockpit-Signature header, made by a Client
// with a Signer): an Ed25519 signature (an NKey user key, the kind `nk -gen user` makes)
// over the actor, the verb, a hash of the body, a time window and a nonce. The audit
// actor of such a command is the signed one; a request that names another actor, is
// unsigned, signed by another key, altered, expired or replayed is refused as
// unauthorized, and its audit row names no actor it claimed.

// SignatureHeader carries a request's signature.
const SignatureHeader = "Cockpit-Signature"

// Signature bounds.
const (
	// signatureValidity is how long a signature is good for from its issue.
	signatureValidity = 30 * time.Second
	// signatureSkew is the clock difference between sender and service tolerated.
	signatureSkew = 30 * time.Second
	// maxSignatureBytes bounds the header.
	maxSignatureBytes = 4 << 10
	// maxSeenNonces bounds the nonces a service remembers (those within their validity).
	maxSeenNonces = 100_000
)

// claims is what a signature covers.
type claims struct {
	// Issuer is the signing key's public key (U…).
	Issuer string `json:"iss"`
	Actor  string `json:"sub"`
	// Role is the actor's role as the signing cockpit knows it (its sign-in); empty: the
	// key's holder acts with every permission (a script with a key of its own).
	Role string `json:"role,omitempty"`
	Verb string `json:"verb"`
	// Body is the SHA-256 of the request body, base64url.
	Body     string `json:"body"`
	IssuedAt int64  `json:"iat"`
	Expires  int64  `json:"exp"`
	Nonce    string `json:"jti"`
}

// Signer signs a Client's requests with an NKey user key.
type Signer struct {
	kp  nkeys.KeyPair
	pub string
	now func() time.Time
}

// NewSigner reads an NKey user seed (SU…, as `nk -gen user` prints it; surrounding
// whitespace and a credentials file's other lines are ignored).
func NewSigner(seed []byte) (*Signer, error) {
	var found []byte
	for _, line := range bytes.Split(seed, []byte("\n")) {
		if line = bytes.TrimSpace(line); bytes.HasPrefix(line, []byte("SU")) {
			found = line
			break
		}
	}
	if found == nil {
		return nil, errors.New("command key: no NKey user seed (a line starting with SU) found")
	}
	kp, err := nkeys.FromSeed(found)
	if err != nil {
		return nil, fmt.Errorf("command key: %w", err)
	}
	pub, err := kp.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("command key: %w", err)
	}
	return &Signer{kp: kp, pub: pub, now: time.Now}, nil
}

// PublicKey is the key a command service lists to trust this signer.
func (s *Signer) PublicKey() string { return s.pub }

// sign makes the header value for a request; role is the actor's ("" for none).
func (s *Signer) sign(actor, role, verb string, body []byte) (string, error) {
	nonce := make([]byte, 16)
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	sum := sha256.Sum256(body)
	now := s.now()
	c, err := json.Marshal(claims{Issuer: s.pub, Actor: strings.TrimSpace(actor), Role: role, Verb: verb,
		Body: base64.RawURLEncoding.EncodeToString(sum[:]), IssuedAt: now.Unix(),
		Expires: now.Add(signatureValidity).Unix(), Nonce: base64.RawURLEncoding.EncodeToString(nonce)})
	if err != nil {
		return "", err
	}
	sig, err := s.kp.Sign(c)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(c) + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// verifier checks signatures against the trusted keys and remembers the nonces seen.
type verifier struct {
	keys map[string]nkeys.KeyPair
	// lookup, when set, is asked about a key not in keys (Options.KeyLookup); its
	// answers are kept for keyLookupTTL.
	lookup func(ctx context.Context, publicKey string) (bool, error)
	looked map[string]lookedKey

	mu   sync.Mutex
	seen map[string]time.Time // nonce → when it expires
}

// keyLookupTTL is how long a KeyLookup answer is kept (a key revoked in the store stops
// being trusted within it).
const keyLookupTTL = 30 * time.Second

type lookedKey struct {
	kp      nkeys.KeyPair // nil: not trusted
	checked time.Time
}

// newVerifier checks the trusted public keys (U…); with none and no lookup (and
// requireSigned false) there is nothing to verify: nil.
func newVerifier(public []string, lookup func(context.Context, string) (bool, error), requireSigned bool) (*verifier, error) {
	v := &verifier{keys: map[string]nkeys.KeyPair{}, seen: map[string]time.Time{}, lookup: lookup, looked: map[string]lookedKey{}}
	for _, k := range public {
		k = strings.TrimSpace(k)
		if k == "" {
			continue
		}
		if !nkeys.IsValidPublicUserKey(k) {
			return nil, fmt.Errorf("trusted command key %q is not an NKey public user key (U…)", k)
		}
		kp, err := nkeys.FromPublicKey(k)
		if err != nil {
			return nil, fmt.Errorf("trusted command key %q: %w", k, err)
		}
		v.keys[k] = kp
	}
	if len(v.keys) == 0 && lookup == nil && !requireSigned {
		return nil, nil
	}
	return v, nil
}

// key is the key pair of a trusted issuer, or nil.
func (v *verifier) key(iss string, now time.Time) nkeys.KeyPair {
	if kp, ok := v.keys[iss]; ok {
		return kp
	}
	if v.lookup == nil || !nkeys.IsValidPublicUserKey(iss) {
		return nil
	}
	v.mu.Lock()
	lk, ok := v.looked[iss]
	v.mu.Unlock()
	if ok && now.Sub(lk.checked) < keyLookupTTL {
		return lk.kp
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	trusted, err := v.lookup(ctx, iss)
	lk = lookedKey{checked: now}
	if err == nil && trusted {
		lk.kp, _ = nkeys.FromPublicKey(iss)
	}
	v.mu.Lock()
	if len(v.looked) >= 1000 {
		clear(v.looked)
	}
	v.looked[iss] = lk
	v.mu.Unlock()
	return lk.kp
}

// verify checks a request's signature and returns the signed actor.
func (v *verifier) verify(header, verb string, body []byte, now time.Time) (string, error) {
	if header == "" {
		return "", fmt.Errorf("this command service takes only signed commands (header %s, signed by a trusted key); the request has none", SignatureHeader)
	}
	if len(header) > maxSignatureBytes {
		return "", fmt.Errorf("the %s header is %d bytes, more than the limit of %d", SignatureHeader, len(header), maxSignatureBytes)
	}
	rawClaims, rawSig, ok := strings.Cut(header, ".")
	if !ok {
		return "", fmt.Errorf("the %s header is not claims.signature", SignatureHeader)
	}
	cb, err1 := base64.RawURLEncoding.DecodeString(rawClaims)
	sig, err2 := base64.RawURLEncoding.DecodeString(rawSig)
	var c claims
	if err1 != nil || err2 != nil || json.Unmarshal(cb, &c) != nil {
		return "", fmt.Errorf("the %s header does not decode", SignatureHeader)
	}
	kp := v.key(c.Issuer, now)
	if kp == nil {
		return "", fmt.Errorf("the command is signed by %q, which this command service does not trust", c.Issuer)
	}
	if kp.Verify(cb, sig) != nil {
		return "", errors.New("the command's signature does not verify")
	}
	sum := sha256.Sum256(body)
	switch {
	case c.Verb != verb:
		return "", fmt.Errorf("the signature is for %s, not %s", c.Verb, verb)
	case c.Body != base64.RawURLEncoding.EncodeToString(sum[:]):
		return "", errors.New("the request body is not the one signed")
	case c.Actor == "":
		return "", errors.New("the signature names no actor")
	case c.Expires-c.IssuedAt > int64((signatureValidity + signatureSkew).Seconds()):
		return "", errors.New("the signature is valid for too long")
	case now.Unix() < c.IssuedAt-int64(signatureSkew.Seconds()) || now.Unix() > c.Expires+int64(signatureSkew.Seconds()):
		return "", errors.New("the signature has expired (or is not valid yet: check the clocks)")
	case c.Nonce == "":
		return "", errors.New("the signature has no nonce")
	}
	if c.Role != "" {
		role, err := auth.ParseRole(c.Role)
		if err != nil {
			return "", fmt.Errorf("the signed %v", err)
		}
		if err := mayRun(c.Actor, role, verb); err != nil {
			return "", err
		}
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, replayed := v.seen[c.Nonce]; replayed {
		return "", errors.New("the signed command was sent before (a replay)")
	}
	if len(v.seen) >= maxSeenNonces {
		for n, until := range v.seen {
			if now.After(until) {
				delete(v.seen, n)
			}
		}
		if len(v.seen) >= maxSeenNonces {
			return "", errors.New("too many signed commands in the last minute; send it again shortly")
		}
	}
	v.seen[c.Nonce] = time.Unix(c.Expires, 0).Add(signatureSkew)
	return c.Actor, nil
}
