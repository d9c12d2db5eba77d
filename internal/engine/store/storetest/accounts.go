package storetest

import (
	"context"
	"fmt"
	"testing"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// Account fixtures. Hashes are stand-ins: the store keeps what it is given.

func newUser(id, name string, created float64) *store.User {
	return &store.User{ID: id, Name: name, PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$" + id,
		Role: store.RoleViewer, CreatedAt: at(created)}
}

func newSession(id, userID string, created, expires float64) *store.Session {
	return &store.Session{ID: id, UserID: userID, CreatedAt: at(created), LastSeen: at(created), ExpiresAt: at(expires),
		Address: "192.0.2.1:5000"}
}

func newAPIToken(id, userID string, created float64) *store.APIToken {
	return &store.APIToken{ID: id, UserID: userID, Name: "token " + id, Hash: "hash-" + id, Role: store.RoleOperator,
		CreatedAt: at(created)}
}

// readOnlyRefuses checks that each write fails in a read transaction.
func readOnlyRefuses(t *testing.T, s store.Store, writes map[string]func(ctx context.Context, tx store.Tx) error) {
	t.Helper()
	ctx := t.Context()
	for name, fn := range writes {
		if err := s.Read(ctx, func(tx store.Tx) error { return fn(ctx, tx) }); err == nil {
			t.Errorf("%s in a read transaction succeeded", name)
		}
	}
}

// testUsers: users are written and read by id and by name, listed by name and counted; a
// taken name is ErrDuplicate; UpdateUser writes role, password hash and DisabledAt (not
// the name), and an unknown id is ErrNotFound.
func testUsers(t *testing.T, s store.Store) {
	ctx := t.Context()
	bob := newUser("u1", "bob", 0)
	alice := newUser("u2", "alice", 1)
	alice.Role = store.RoleAdmin
	carol := newUser("u3", "carol", 2)
	carol.PasswordHash, carol.DisabledAt = "", ptr(at(3)) // tokens only, disabled
	write(t, s, func(ctx context.Context, tx store.Tx) error {
		for _, u := range []*store.User{bob, alice, carol} {
			if err := tx.InsertUser(ctx, u); err != nil {
				return err
			}
		}
		return nil
	})
	getUser := func(id string) *store.User {
		t.Helper()
		return get(t, s, func(ctx context.Context, tx store.Tx) (*store.User, error) { return tx.GetUser(ctx, id) })
	}
	byName := func(name string) *store.User {
		t.Helper()
		return get(t, s, func(ctx context.Context, tx store.Tx) (*store.User, error) { return tx.GetUserByName(ctx, name) })
	}
	same(t, "GetUser", getUser("u1"), bob)
	same(t, "GetUser disabled, no password", getUser("u3"), carol)
	same(t, "GetUserByName", byName("alice"), alice)
	err := s.Read(ctx, func(tx store.Tx) error { _, err := tx.GetUser(ctx, "nope"); return err })
	wantErr(t, err, store.ErrNotFound, "GetUser of an unknown id")
	err = s.Read(ctx, func(tx store.Tx) error { _, err := tx.GetUserByName(ctx, "Bob"); return err })
	wantErr(t, err, store.ErrNotFound, "GetUserByName of an unknown name (names are case-sensitive)")

	err = s.Write(ctx, func(tx store.Tx) error { return tx.InsertUser(ctx, newUser("u9", "bob", 9)) })
	wantErr(t, err, store.ErrDuplicate, "InsertUser of a taken name")
	err = s.Write(ctx, func(tx store.Tx) error { return tx.InsertUser(ctx, newUser("u1", "dave", 9)) })
	wantErr(t, err, store.ErrDuplicate, "InsertUser of a taken id")

	list := func() []*store.User {
		t.Helper()
		return get(t, s, func(ctx context.Context, tx store.Tx) ([]*store.User, error) { return tx.ListUsers(ctx) })
	}
	count := func() int {
		t.Helper()
		return get(t, s, func(ctx context.Context, tx store.Tx) (int, error) { return tx.CountUsers(ctx) })
	}
	same(t, "ListUsers by name", list(), []*store.User{alice, bob, carol})
	same(t, "CountUsers", count(), 3)

	// UpdateUser: role, password and disabling; the name given is ignored.
	update := func(u *store.User) {
		t.Helper()
		write(t, s, func(ctx context.Context, tx store.Tx) error { return tx.UpdateUser(ctx, u) })
	}
	changed := *bob
	changed.Name, changed.Role, changed.PasswordHash, changed.DisabledAt = "robert", store.RoleOperator, "new-hash", ptr(at(50))
	update(&changed)
	bob.Role, bob.PasswordHash, bob.DisabledAt = store.RoleOperator, "new-hash", ptr(at(50))
	same(t, "after UpdateUser", getUser("u1"), bob)
	same(t, "the name stays", byName("bob"), bob)
	err = s.Read(ctx, func(tx store.Tx) error { _, err := tx.GetUserByName(ctx, "robert"); return err })
	wantErr(t, err, store.ErrNotFound, "GetUserByName of a name UpdateUser was given")
	// Enabled again, password removed.
	carol.DisabledAt, carol.Role = nil, store.RoleAnalyst
	update(carol)
	same(t, "enabled again", getUser("u3"), carol)
	err = s.Write(ctx, func(tx store.Tx) error { return tx.UpdateUser(ctx, newUser("nope", "nope", 0)) })
	wantErr(t, err, store.ErrNotFound, "UpdateUser of an unknown id")
	same(t, "ListUsers after updates", list(), []*store.User{alice, bob, carol})
	same(t, "CountUsers after updates", count(), 3)

	readOnlyRefuses(t, s, map[string]func(ctx context.Context, tx store.Tx) error{
		"InsertUser": func(ctx context.Context, tx store.Tx) error { return tx.InsertUser(ctx, newUser("u8", "erin", 8)) },
		"UpdateUser": func(ctx context.Context, tx store.Tx) error { return tx.UpdateUser(ctx, alice) },
	})
}

// testSessions: sessions are written, read, touched, listed newest first per user and
// deleted one by one, per user, and when expired (ExpiresAt before now, or LastSeen
// before idleBefore: both strictly).
func testSessions(t *testing.T, s store.Store) {
	ctx := t.Context()
	s1 := newSession("s1", "u1", 0, 3600)
	s2 := newSession("s2", "u1", 10, 100)
	s3 := newSession("s3", "u2", 5, 3600)
	s3.Address = "[2001:db8::1]:443"
	s4 := newSession("s4", "u1", 20, 101) // expires exactly at "now" below: kept
	s5 := newSession("s5", "u2", 30, 3600)
	write(t, s, func(ctx context.Context, tx store.Tx) error {
		for _, x := range []*store.Session{s1, s2, s3, s4, s5} {
			if err := tx.InsertSession(ctx, x); err != nil {
				return err
			}
		}
		return nil
	})
	err := s.Write(ctx, func(tx store.Tx) error { return tx.InsertSession(ctx, newSession("s1", "u2", 0, 1)) })
	wantErr(t, err, store.ErrDuplicate, "InsertSession of a taken id")

	getSession := func(id string) *store.Session {
		t.Helper()
		return get(t, s, func(ctx context.Context, tx store.Tx) (*store.Session, error) { return tx.GetSession(ctx, id) })
	}
	notFound := func(id, what string) {
		t.Helper()
		err := s.Read(ctx, func(tx store.Tx) error { _, err := tx.GetSession(ctx, id); return err })
		wantErr(t, err, store.ErrNotFound, what)
	}
	list := func(userID string) []string {
		t.Helper()
		got := get(t, s, func(ctx context.Context, tx store.Tx) ([]*store.Session, error) { return tx.ListSessions(ctx, userID) })
		return ids(got, func(x *store.Session) string { return x.ID })
	}
	same(t, "GetSession", getSession("s3"), s3)
	notFound("nope", "GetSession of an unknown id")
	same(t, "ListSessions newest first", list("u1"), []string{"s4", "s2", "s1"})
	same(t, "ListSessions of another user", list("u2"), []string{"s5", "s3"})
	same(t, "ListSessions of a user without any", list("u9"), []string{})
	same(t, "ListSessions rows", get(t, s, func(ctx context.Context, tx store.Tx) ([]*store.Session, error) {
		return tx.ListSessions(ctx, "u2")
	}), []*store.Session{s5, s3})

	write(t, s, func(ctx context.Context, tx store.Tx) error { return tx.TouchSession(ctx, "s1", at(60)) })
	s1.LastSeen = at(60)
	same(t, "after TouchSession", getSession("s1"), s1)
	err = s.Write(ctx, func(tx store.Tx) error { return tx.TouchSession(ctx, "nope", at(60)) })
	wantErr(t, err, store.ErrNotFound, "TouchSession of an unknown id")

	expire := func(now, idleBefore float64) int {
		t.Helper()
		var n int
		write(t, s, func(ctx context.Context, tx store.Tx) error {
			var err error
			n, err = tx.DeleteExpiredSessions(ctx, at(now), at(idleBefore))
			return err
		})
		return n
	}
	// By the absolute end: s2 ended at 100; s4 ends at 101, not before it.
	same(t, "expired by the absolute end", expire(101, 0), 1)
	notFound("s2", "GetSession of a session past its end")
	same(t, "after the absolute end", list("u1"), []string{"s4", "s1"})
	// By idleness: s3 (last seen at 5) and s4 (at 20) before 21; s5 (at 30) and s1 (at 60) not.
	same(t, "expired by idleness", expire(101, 21), 2)
	same(t, "after idleness u1", list("u1"), []string{"s1"})
	same(t, "after idleness u2", list("u2"), []string{"s5"})
	same(t, "nothing more to expire", expire(101, 21), 0)

	write(t, s, func(ctx context.Context, tx store.Tx) error { return tx.DeleteSession(ctx, "s1") })
	notFound("s1", "GetSession of a deleted session")
	write(t, s, func(ctx context.Context, tx store.Tx) error { return tx.DeleteSession(ctx, "s1") }) // none: no error

	s6, s7 := newSession("s6", "u2", 40, 3600), newSession("s7", "u1", 40, 3600)
	write(t, s, func(ctx context.Context, tx store.Tx) error {
		if err := tx.InsertSession(ctx, s6); err != nil {
			return err
		}
		return tx.InsertSession(ctx, s7)
	})
	write(t, s, func(ctx context.Context, tx store.Tx) error { return tx.DeleteUserSessions(ctx, "u2") })
	same(t, "after DeleteUserSessions", list("u2"), []string{})
	same(t, "another user's sessions stay", list("u1"), []string{"s7"})
	write(t, s, func(ctx context.Context, tx store.Tx) error { return tx.DeleteUserSessions(ctx, "u2") }) // none: no error

	readOnlyRefuses(t, s, map[string]func(ctx context.Context, tx store.Tx) error{
		"InsertSession":      func(ctx context.Context, tx store.Tx) error { return tx.InsertSession(ctx, s1) },
		"TouchSession":       func(ctx context.Context, tx store.Tx) error { return tx.TouchSession(ctx, "s7", at(70)) },
		"DeleteSession":      func(ctx context.Context, tx store.Tx) error { return tx.DeleteSession(ctx, "s7") },
		"DeleteUserSessions": func(ctx context.Context, tx store.Tx) error { return tx.DeleteUserSessions(ctx, "u1") },
		"DeleteExpiredSessions": func(ctx context.Context, tx store.Tx) error {
			_, err := tx.DeleteExpiredSessions(ctx, at(1e6), at(1e6))
			return err
		},
	})
}

// testAPITokens: tokens are written (a taken hash is ErrDuplicate), found by hash (revoked
// ones too), listed newest first per user and for everyone, revoked once (a second
// revocation keeps the first time) and touched; unknown ids are ErrNotFound.
func testAPITokens(t *testing.T, s store.Store) {
	ctx := t.Context()
	t1 := newAPIToken("k1", "u1", 0)
	t2 := newAPIToken("k2", "u1", 10)
	t2.Role, t2.ExpiresAt, t2.JobTypes = store.RoleViewer, ptr(at(1000)), []string{"ship", "pack"}
	t3 := newAPIToken("k3", "u2", 5)
	write(t, s, func(ctx context.Context, tx store.Tx) error {
		for _, k := range []*store.APIToken{t1, t2, t3} {
			if err := tx.InsertAPIToken(ctx, k); err != nil {
				return err
			}
		}
		return nil
	})
	dup := newAPIToken("k9", "u2", 9)
	dup.Hash = t1.Hash
	err := s.Write(ctx, func(tx store.Tx) error { return tx.InsertAPIToken(ctx, dup) })
	wantErr(t, err, store.ErrDuplicate, "InsertAPIToken of a taken hash")
	err = s.Write(ctx, func(tx store.Tx) error { return tx.InsertAPIToken(ctx, newAPIToken("k1", "u2", 9)) })
	wantErr(t, err, store.ErrDuplicate, "InsertAPIToken of a taken id")

	byHash := func(hash string) *store.APIToken {
		t.Helper()
		return get(t, s, func(ctx context.Context, tx store.Tx) (*store.APIToken, error) {
			return tx.GetAPITokenByHash(ctx, hash)
		})
	}
	list := func(userID string) []*store.APIToken {
		t.Helper()
		return get(t, s, func(ctx context.Context, tx store.Tx) ([]*store.APIToken, error) {
			return tx.ListAPITokens(ctx, userID)
		})
	}
	same(t, "GetAPITokenByHash", byHash("hash-k2"), t2)
	err = s.Read(ctx, func(tx store.Tx) error { _, err := tx.GetAPITokenByHash(ctx, "hash-nope"); return err })
	wantErr(t, err, store.ErrNotFound, "GetAPITokenByHash of an unknown hash")
	same(t, "ListAPITokens of a user", list("u1"), []*store.APIToken{t2, t1})
	same(t, "ListAPITokens of everyone", list(""), []*store.APIToken{t2, t3, t1})
	same(t, "ListAPITokens of a user without any", list("u9"), []*store.APIToken{})

	revoke := func(id string, when float64) error {
		return s.Write(ctx, func(tx store.Tx) error { return tx.RevokeAPIToken(ctx, id, at(when)) })
	}
	if err := revoke("k1", 20); err != nil {
		t.Fatal(err)
	}
	if err := revoke("k1", 30); err != nil {
		t.Fatalf("second revocation: %v", err)
	}
	t1.RevokedAt = ptr(at(20))
	same(t, "revoked, at its first time, still found by hash", byHash("hash-k1"), t1)
	wantErr(t, revoke("nope", 20), store.ErrNotFound, "RevokeAPIToken of an unknown id")

	write(t, s, func(ctx context.Context, tx store.Tx) error { return tx.TouchAPIToken(ctx, "k2", at(40)) })
	write(t, s, func(ctx context.Context, tx store.Tx) error { return tx.TouchAPIToken(ctx, "k2", at(45)) })
	t2.LastUsedAt = ptr(at(45))
	same(t, "after TouchAPIToken", byHash("hash-k2"), t2)
	err = s.Write(ctx, func(tx store.Tx) error { return tx.TouchAPIToken(ctx, "nope", at(40)) })
	wantErr(t, err, store.ErrNotFound, "TouchAPIToken of an unknown id")
	same(t, "ListAPITokens after revoke and touch", list(""), []*store.APIToken{t2, t3, t1})

	readOnlyRefuses(t, s, map[string]func(ctx context.Context, tx store.Tx) error{
		"InsertAPIToken": func(ctx context.Context, tx store.Tx) error {
			return tx.InsertAPIToken(ctx, newAPIToken("k8", "u1", 8))
		},
		"RevokeAPIToken": func(ctx context.Context, tx store.Tx) error { return tx.RevokeAPIToken(ctx, "k2", at(50)) },
		"TouchAPIToken":  func(ctx context.Context, tx store.Tx) error { return tx.TouchAPIToken(ctx, "k2", at(50)) },
	})
}

// testAccountLimits: ListSessions and ListAPITokens return at most MaxSessionsListed and
// MaxTokensListed rows, the newest. (MaxUsers is the same LIMIT on ListUsers; ten
// thousand users would cost the suite more than it proves.)
func testAccountLimits(t *testing.T, s store.Store) {
	n := max(store.MaxSessionsListed, store.MaxTokensListed) + 1
	write(t, s, func(ctx context.Context, tx store.Tx) error {
		for i := range n {
			id := fmt.Sprintf("x%05d", i)
			if err := tx.InsertSession(ctx, newSession(id, "u1", float64(i), 1e6)); err != nil {
				return err
			}
			if err := tx.InsertAPIToken(ctx, newAPIToken(id, "u1", float64(i))); err != nil {
				return err
			}
		}
		return nil
	})
	newest := fmt.Sprintf("x%05d", n-1)
	sessions := get(t, s, func(ctx context.Context, tx store.Tx) ([]*store.Session, error) { return tx.ListSessions(ctx, "u1") })
	if got := ids(sessions, func(x *store.Session) string { return x.ID }); len(got) != store.MaxSessionsListed || got[0] != newest {
		t.Errorf("ListSessions of %d: %d rows, want %d, the newest (%s) first", n, len(got), store.MaxSessionsListed, newest)
	}
	for _, user := range []string{"u1", ""} {
		tokens := get(t, s, func(ctx context.Context, tx store.Tx) ([]*store.APIToken, error) { return tx.ListAPITokens(ctx, user) })
		if got := ids(tokens, func(x *store.APIToken) string { return x.ID }); len(got) != store.MaxTokensListed || got[0] != newest {
			t.Errorf("ListAPITokens(%q) of %d: %d rows, want %d, the newest (%s) first", user, n, len(got), store.MaxTokensListed, newest)
		}
	}
}
