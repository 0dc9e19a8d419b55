package greylist

import (
	"testing"
	"time"
)

// FuzzDecodeState checks that the state file decoder never panics and
// that what it accepts survives a write and a read unchanged.
func FuzzDecodeState(f *testing.F) {
	f.Add([]byte(`{"version":1,"triplets":[{"client":"192.0.2.0/24","sender":"a@example.org","recipient":"b@example.com","first":"2025-03-01T12:00:00Z","last":"2025-03-01T12:05:00Z","passed":"2025-03-01T12:05:00Z"}],"clients":[{"client":"2001:db8::/64","count":3,"last":"2025-03-01T12:05:00Z"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := decodeState(data)
		if err != nil {
			return
		}
		s := newStore(storeLimits{delay: time.Minute, retry: time.Hour, expire: 1 << 62, max: 1 << 30})
		s.triplets, s.clients = st.triplets, st.clients
		out, err := s.encode()
		if err != nil {
			t.Fatalf("encode: %v", err)
		}
		again, err := decodeState(out)
		if err != nil {
			t.Fatalf("re-decoding %s: %v", out, err)
		}
		if len(again.triplets) != len(st.triplets) || len(again.clients) != len(st.clients) {
			t.Fatalf("round trip changed the counts: %s", out)
		}
		for k, v := range st.triplets {
			w := again.triplets[k]
			if w == nil || !w.first.Equal(v.first) || !w.last.Equal(v.last) || !w.passed.Equal(v.passed) {
				t.Fatalf("round trip changed %v: %+v → %+v", k, v, w)
			}
		}
	})
}

// FuzzParsePattern checks that an accepted whitelist pattern matches
// what its form promises.
func FuzzParsePattern(f *testing.F) {
	for _, s := range []string{"postmaster@", "user@example.com", "example.com", ".example.com", "<>", "a@b@c"} {
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, s string, senders bool) {
		p, err := parsePattern(s, senders)
		if err != nil {
			return
		}
		var addr string
		switch p.kind {
		case patAddress:
			addr = p.text
		case patLocal:
			addr = p.text + "@any.example"
		case patDomain:
			addr = "u@" + p.text
		case patSubdomain:
			addr = "u@sub" + p.text
		}
		if !p.match(addr) {
			t.Fatalf("pattern %q (%d) does not match %q", s, p.kind, addr)
		}
		if p.kind == patSubdomain && p.match("u@"+p.text[1:]) {
			t.Fatalf("subdomain pattern %q matches the domain itself", s)
		}
	})
}
