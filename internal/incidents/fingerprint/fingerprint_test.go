package fingerprint

import "testing"

func TestMask(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"card declined", "card declined"},
		{"order 12345 failed after 3.5s", "order <n> failed after <n>s"},
		{"instance 0192f3a4-5b6c-7d8e-9f00-112233445566 not found", "instance <id> not found"},
		{"object 5f2b9c0e7a1d3c4b5a6f not found", "object <id> not found"},
		{"HTTP 503 from http://pay:8080/v1/charge", "HTTP <n> from http://pay:<n>/v<n>/charge"},
		{"deadbeef and cafe", "deadbeef and cafe"},
		{"line one\n\tline  two", "line one line two"},
	} {
		if got := Mask(c.in); got != c.want {
			t.Errorf("Mask(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestOf(t *testing.T) {
	a := Of("order", "charge", "failedJob", "order 1 declined (ref 0192f3a4-5b6c-7d8e-9f00-112233445566)")
	b := Of("order", "charge", "failedJob", "order 2 declined (ref 0192f3a4-5b6c-7d8e-9f00-aaaaaaaaaaaa)")
	if a != b || len(a) != 32 {
		t.Fatalf("same cause, different fingerprints %q %q", a, b)
	}
	// The golden value: a change of the masking or hashing changes every stored
	// fingerprint (see the package comment).
	if want := Of("order", "charge", "failedJob", "order <n> declined (ref <id>)"); a != want {
		t.Errorf("masked message hashes differently: %q, want %q", a, want)
	}
	if got, want := a, "be7f0ddc2dece350e9938f89c08d4d1e"; got != want {
		t.Errorf("fingerprint changed: %q, want %q (stored fingerprints would split)", got, want)
	}
	for _, other := range []string{
		Of("invoice", "charge", "failedJob", "order 1 declined"),
		Of("order", "ship", "failedJob", "order 1 declined"),
		Of("order", "charge", "expressionError", "order 1 declined"),
		Of("order", "charge", "failedJob", "order 1 refused"),
	} {
		if other == Of("order", "charge", "failedJob", "order 1 declined") {
			t.Errorf("different causes share fingerprint %q", other)
		}
	}
	e42 := Of("order", "pay", "unhandledError", `error "E42" thrown by "pay" is not caught by any boundary event`)
	e43 := Of("order", "pay", "unhandledError", `error "E43" thrown by "pay" is not caught by any boundary event`)
	if e42 == e43 {
		t.Error("error codes E42 and E43 share a fingerprint")
	}
}

func TestErrorCode(t *testing.T) {
	for _, c := range []struct{ typ, msg, want string }{
		{"unhandledError", `error "PAYMENT_DECLINED" thrown by "pay" is not caught by any boundary event`, "PAYMENT_DECLINED"},
		{"unhandledError", `error "a\"b" thrown by "pay" is not caught`, `a"b`},
		{"failedJob", `error "X" thrown by "pay"`, ""},
		{"unhandledError", "something else", ""},
	} {
		if got := ErrorCode(c.typ, c.msg); got != c.want {
			t.Errorf("ErrorCode(%q, %q) = %q, want %q", c.typ, c.msg, got, c.want)
		}
	}
}
