package spf

import (
	"net/netip"
	"strings"
	"testing"
	"unicode/utf8"

	"blitiri.com.ar/go/spf"
)

var fuzzResults = []spf.Result{spf.Pass, spf.Fail, spf.SoftFail, spf.Neutral, spf.None, spf.TempError, spf.PermError}

// FuzzReceivedSPF checks that whatever sender and HELO name a client
// gives, the Received-SPF value stays one well-formed field: folded only
// with CRLF and a tab, lines within 998 octets, valid UTF-8 without
// control characters, one comment, the sender quoted faithfully, and
// the identity last.
func FuzzReceivedSPF(f *testing.F) {
	f.Add(uint8(0), "alice@example.com", "mail.example.com", true)
	f.Fuzz(func(t *testing.T, r uint8, from, helo string, bad bool) {
		o := &outcome{result: fuzzResults[int(r)%len(fuzzResults)], identity: "mailfrom", from: from,
			sender: from, domain: from, ip: netip.MustParseAddr("2001:db8::1"), helo: helo}
		if bad {
			o.err = errNoDomain
		}
		if from == "" {
			o.identity, o.sender = "helo", "postmaster@"+helo
		}
		v := receivedSPF(o, "mx.example.org")
		for _, l := range strings.Split(v, "\r\n\t") {
			if len(l) > 998 {
				t.Fatalf("line of %d octets", len(l))
			}
		}
		flat := strings.ReplaceAll(v, "\r\n\t", " ")
		if !utf8.ValidString(flat) || strings.ContainsFunc(flat, func(c rune) bool { return c < 0x20 || c == 0x7f }) {
			t.Fatalf("control characters or bad UTF-8 in %q", v)
		}
		open, end := strings.IndexByte(flat, '('), strings.IndexByte(flat, ')')
		if open < 0 || end < open || strings.ContainsAny(flat[open+1:end], "(\\") {
			t.Fatalf("comment not well formed in %q", flat)
		}
		if !strings.HasPrefix(flat, string(o.result)+" (") || !strings.HasSuffix(flat, "; identity="+o.identity) {
			t.Fatalf("bad start or end: %q", flat)
		}
		q := quoted(clip(from))
		if !strings.Contains(flat[end:], " envelope-from="+q+";") || unquote(q) != clean(clip(from)) {
			t.Fatalf("envelope-from %q does not give back %q", q, from)
		}
	})
}

// unquote undoes quoted.
func unquote(q string) string {
	var b strings.Builder
	q = q[1 : len(q)-1]
	for i := 0; i < len(q); i++ {
		if q[i] == '\\' {
			i++
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// clean is s without what quoted drops.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return -1
		}
		return r
	}, s)
}

// FuzzNormalizeDomain checks that an accepted domain is a lower-case,
// multi-label LDH name of at most 253 octets, and stays the same when
// normalized again.
func FuzzNormalizeDomain(f *testing.F) {
	f.Add("Example.COM.")
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := normalizeDomain(s)
		if !ok {
			return
		}
		if len(d) > maxDomain || d != strings.ToLower(d) || strings.Count(d, ".") < 1 {
			t.Fatalf("%q gave %q", s, d)
		}
		for _, l := range strings.Split(d, ".") {
			if l == "" || len(l) > 63 || !ldh(l) {
				t.Fatalf("%q gave %q with label %q", s, d, l)
			}
		}
		if d2, ok := normalizeDomain(d); !ok || d2 != d {
			t.Fatalf("%q gave %q, then %q %v", s, d, d2, ok)
		}
	})
}
