package access

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/envelope"
)

// FuzzParsePattern checks that the pattern parser never panics, and that
// every pattern it accepts matches what its form promises: an address
// itself, a domain's addresses, a subdomain's children but not the domain,
// a network its own address.
func FuzzParsePattern(f *testing.F) {
	f.Add(uint8(keySender), "user@example.com")
	f.Fuzz(func(t *testing.T, k uint8, s string) {
		p, err := parsePattern(key(k%uint8(numKeys)), s)
		if err != nil {
			return
		}
		if p.text != s {
			t.Fatalf("text %q, want %q", p.text, s)
		}
		// Whatever the form, matching must not panic.
		p.matchConn(&envelope.Conn{ClientName: s, ClientAddr: netip.MustParseAddrPort("192.0.2.1:25")})
		p.matchHelo(s)
		p.matchAddr(s)
		if msg := checkPromise(p); msg != "" {
			t.Fatalf("pattern %q (%s): %s", p.text, p.key, msg)
		}
	})
}

// checkPromise returns what p fails to match that its form promises.
func checkPromise(p *pattern) string {
	isHelo := p.key == keyHelo
	switch p.kind {
	case kindAddress:
		if !p.matchAddr(p.text) || !p.matchAddr(asciiUpper(p.text)) {
			return "does not match its own address"
		}
	case kindDomain:
		d := strings.TrimPrefix(p.text, "@")
		if isHelo && !p.matchHelo(asciiUpper(d)) || !isHelo && !p.matchAddr("u@"+asciiUpper(d)) {
			return "does not match its own domain"
		}
	case kindSubdomain:
		if isHelo && (!p.matchHelo("a"+p.text) || p.matchHelo(p.text[1:])) ||
			!isHelo && (!p.matchAddr("u@a"+p.text) || p.matchAddr("u@"+p.text[1:])) {
			return "wrong on a child or on the parent domain"
		}
	case kindNull:
		if !p.matchAddr("") || p.matchAddr("a@b") {
			return "wrong on the null sender"
		}
	case kindIP, kindPrefix:
		c := &envelope.Conn{ClientAddr: netip.AddrPortFrom(p.prefix.Addr(), 25)}
		if !p.matchConn(c) {
			return "does not match its own address"
		}
	case kindRegex:
	default:
		return "has no kind"
	}
	return ""
}

func asciiUpper(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' {
			return r - 'a' + 'A'
		}
		return r
	}, s)
}

// FuzzCompileReply checks that the reply parser never panics and that a
// reply it accepts has a code and an enhanced code of the action's class,
// one line per configured line, and no CR or NUL.
func FuzzCompileReply(f *testing.F) {
	f.Add(true, "550 5.7.1 Go away")
	f.Fuzz(func(t *testing.T, reject bool, s string) {
		a, class := actTempFail, 4
		if reject {
			a, class = actReject, 5
		}
		r, err := compileReply(s, "x", a)
		if err != nil {
			return
		}
		if r.Code/100 != class || r.Enhanced == "" || int(r.Enhanced[0]-'0') != class {
			t.Fatalf("reply %q for class %d: code %d, enhanced %q", s, class, r.Code, r.Enhanced)
		}
		if want := strings.Count(s, "\n") + 1; len(r.Lines) != want {
			t.Fatalf("reply %q: %d lines, want %d", s, len(r.Lines), want)
		}
		if strings.ContainsAny(strings.Join(r.Lines, ""), "\r\x00") {
			t.Fatalf("reply %q: lines %q hold CR or NUL", s, r.Lines)
		}
	})
}
