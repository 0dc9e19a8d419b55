package access

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/envelope"
)

func conn(addr, name string) *envelope.Conn {
	c := &envelope.Conn{ClientName: name}
	if addr != "" {
		c.ClientAddr = netip.AddrPortFrom(netip.MustParseAddr(addr), 25)
	}
	return c
}

func TestClientPatterns(t *testing.T) {
	tests := []struct {
		pat  string
		conn *envelope.Conn
		want bool
	}{
		{"192.0.2.1", conn("192.0.2.1", ""), true},
		{"192.0.2.1", conn("192.0.2.2", ""), false},
		{"192.0.2.1", conn("::ffff:192.0.2.1", ""), true},
		{"::ffff:192.0.2.1", conn("192.0.2.1", ""), true},
		{"192.0.2.0/24", conn("192.0.2.0", ""), true},
		{"192.0.2.0/24", conn("192.0.2.255", ""), true},
		{"192.0.2.0/24", conn("192.0.1.255", ""), false},
		{"192.0.2.0/24", conn("192.0.3.0", ""), false},
		{"192.0.2.0/24", conn("::ffff:192.0.2.7", ""), true},
		{"192.0.2.128/25", conn("192.0.2.127", ""), false},
		{"192.0.2.128/25", conn("192.0.2.128", ""), true},
		{"192.0.2.1/32", conn("192.0.2.1", ""), true},
		{"0.0.0.0/0", conn("203.0.113.9", ""), true},
		{"0.0.0.0/0", conn("2001:db8::1", ""), false},
		{"::ffff:192.0.2.0/120", conn("192.0.2.200", ""), true},
		{"::ffff:192.0.2.0/120", conn("192.0.3.1", ""), false},
		{"::1", conn("::1", ""), true},
		{"::1", conn("127.0.0.1", ""), false},
		{"2001:DB8::1", conn("2001:db8::1", ""), true},
		{"2001:db8::/64", conn("2001:db8::ffff:ffff:ffff:ffff", ""), true},
		{"2001:db8::/64", conn("2001:db8:0:1::", ""), false},
		{"2001:db8::/32", conn("2001:db7:ffff:ffff::1", ""), false},
		{"::/0", conn("192.0.2.1", ""), false},
		{"::/0", conn("fe80::1", ""), true},
		{"192.0.2.1", conn("", "[192.0.2.1]"), false},
		{"192.0.2.1", nil, false},
		{`/\.example\.net$/`, conn("192.0.2.1", "mx1.EXAMPLE.net"), true},
		{`/\.example\.net$/`, conn("192.0.2.1", "mx1.example.net.evil.org"), false},
		{`/example/`, conn("192.0.2.1", "www.example.org"), true},
		{`/^unknown$/`, conn("192.0.2.1", "unknown"), true},
		{`/^$/`, conn("192.0.2.1", ""), true},
	}
	for _, tt := range tests {
		p, err := parsePattern(keyClient, tt.pat)
		if err != nil {
			t.Errorf("parsePattern(%q): %v", tt.pat, err)
			continue
		}
		if got := p.matchConn(tt.conn); got != tt.want {
			t.Errorf("client %q matching %+v = %v, want %v", tt.pat, tt.conn, got, tt.want)
		}
	}
}

func TestClientZone(t *testing.T) {
	p, err := parsePattern(keyClient, "fe80::1")
	if err != nil {
		t.Fatal(err)
	}
	c := &envelope.Conn{ClientAddr: netip.AddrPortFrom(netip.MustParseAddr("fe80::1%eth0"), 25)}
	if !p.matchConn(c) {
		t.Fatal("fe80::1 does not match fe80::1 with zone eth0")
	}
}

func TestHeloPatterns(t *testing.T) {
	tests := []struct {
		pat, helo string
		want      bool
	}{
		{"example.com", "example.com", true},
		{"example.com", "EXAMPLE.Com", true},
		{"EXAMPLE.com", "example.com", true},
		{"example.com", "mx.example.com", false},
		{"example.com", "example.com.evil", false},
		{".example.com", "mx.example.com", true},
		{".example.com", "a.b.Example.COM", true},
		{".example.com", "example.com", false},
		{".example.com", "badexample.com", false},
		{".example.com", ".example.com", false},
		{"[192.0.2.1]", "[192.0.2.1]", true},
		{"[IPv6:2001:db8::1]", "[ipv6:2001:DB8::1]", true},
		{"bücher.example", "BÜCHER.example", true},
		{`/localhost/`, "my.LOCALHOST.net", true},
		{`/^localhost$/`, "my.localhost.net", false},
		{`/^[0-9.]+$/`, "192.0.2.1", true},
		{`/a|b/`, "B", true},
	}
	for _, tt := range tests {
		p, err := parsePattern(keyHelo, tt.pat)
		if err != nil {
			t.Errorf("parsePattern(%q): %v", tt.pat, err)
			continue
		}
		if got := p.matchHelo(tt.helo); got != tt.want {
			t.Errorf("helo %q matching %q = %v, want %v", tt.pat, tt.helo, got, tt.want)
		}
	}
}

func TestAddressPatterns(t *testing.T) {
	tests := []struct {
		k         key
		pat, addr string
		want      bool
	}{
		{keySender, "user@example.com", "user@example.com", true},
		{keySender, "user@example.com", "USER@Example.COM", true},
		{keySender, "User@Example.com", "user@example.com", true},
		{keySender, "user@example.com", "user2@example.com", false},
		{keySender, "user@example.com", "user@mx.example.com", false},
		{keySender, "example.com", "anyone@EXAMPLE.com", true},
		{keySender, "example.com", "anyone@mx.example.com", false},
		{keySender, "@example.com", "anyone@example.com", true},
		{keySender, "@example.com", "anyone@sub.example.com", false},
		{keySender, "example.com", "example.com", false},
		{keySender, "example.com", "", false},
		{keySender, ".example.com", "a@mx.example.com", true},
		{keySender, ".example.com", "a@a.b.example.com", true},
		{keySender, ".example.com", "a@example.com", false},
		{keySender, ".example.com", "a@notexample.com", false},
		{keySender, ".example.com", "mx.example.com", false},
		{keySender, "<>", "", true},
		{keySender, "<>", "postmaster@example.com", false},
		{keySender, "/^$/", "", true},
		{keySender, `/^bounce-.*@/`, "Bounce-123@lists.example.org", true},
		{keySender, `/spam/`, "nospam@example.org", true},
		{keySender, `/^spam@/`, "nospam@example.org", false},
		{keyRecipient, "postmaster@[192.0.2.1]", "Postmaster@[192.0.2.1]", true},
		{keyRecipient, "[192.0.2.1]", "x@[192.0.2.1]", true},
		{keyRecipient, `"a b"@example.com`, `"A B"@example.com`, false}, // local part may not hold a space
		{keyRecipient, "a@b@example.com", "a@b@example.com", true},
		{keyRecipient, "example.com", "a@b@example.com", true},
		{keyRecipient, "example.com", "postmaster", false},
	}
	for _, tt := range tests {
		p, err := parsePattern(tt.k, tt.pat)
		if err != nil {
			if tt.want {
				t.Errorf("parsePattern(%q): %v", tt.pat, err)
			}
			continue
		}
		if got := p.matchAddr(tt.addr); got != tt.want {
			t.Errorf("%s %q matching %q = %v, want %v", tt.k, tt.pat, tt.addr, got, tt.want)
		}
	}
}

func TestPatternErrors(t *testing.T) {
	tests := []struct {
		k    key
		pat  string
		want string
	}{
		{keySender, "", "empty pattern"},
		{keySender, "   ", `pattern "   " contains a space or control character`},
		{keySender, " a@example.com", `pattern " a@example.com" contains a space or control character`},
		{keySender, "/x/ ", `bad regex "/x/ ": missing the closing /`},
		{keySender, " /x/", `pattern " /x/" contains a space or control character`},
		{keySender, "/abc", `bad regex "/abc": missing the closing /`},
		{keySender, "/a b", `bad regex "/a b": missing the closing /`},
		{keySender, "/", `bad regex "/": missing the closing /`},
		{keySender, "//", "bad regex //: empty"},
		{keySender, "/[a/", "bad regex /[a/: error parsing regexp: missing closing ]: `[a`"},
		{keySender, "/a)/", "bad regex /a)/: error parsing regexp: unexpected ): `a)`"},
		{keySender, "/a\x00/", `bad regex "/a\x00/": control character '\x00'`},
		{keySender, "a\tb@example.com", `pattern "a\tb@example.com" contains a space or control character`},
		{keySender, "a@exa\x00mple.com", `pattern "a@exa\x00mple.com" contains a space or control character`},
		{keySender, "a@exa\x7fmple.com", `pattern "a@exa\x7fmple.com" contains a space or control character`},
		{keySender, "a@\xff", `pattern "a@\xff" is not valid UTF-8`},
		{keySender, strings.Repeat("a", 1025), "pattern is 1025 bytes, over 1024"},
		{keySender, "@", `pattern "@": empty domain`},
		{keySender, "user@", `pattern "user@": empty domain`},
		{keySender, "@example..com", `pattern "@example..com": domain "example..com": empty label (leading, trailing or double dot)`},
		{keySender, "example.com.", `pattern "example.com.": domain "example.com.": empty label (leading, trailing or double dot)`},
		{keySender, ".", `pattern ".": empty domain`},
		{keySender, "..example.com", `pattern "..example.com": domain ".example.com": empty label (leading, trailing or double dot)`},
		{keySender, ".[192.0.2.1]", `pattern ".[192.0.2.1]": domain "[192.0.2.1]": an address literal has no subdomains`},
		{keySender, "a@[192.0.2.1", `pattern "a@[192.0.2.1": domain "[192.0.2.1": malformed address literal`},
		{keySender, "exa mple.com", `pattern "exa mple.com" contains a space or control character`},
		{keySender, "a@ex/ample.com", `pattern "a@ex/ample.com": domain "ex/ample.com": character '/' not allowed`},
		{keySender, "@a@b", `pattern "@a@b": domain "a@b": character '@' not allowed`},
		{keySender, "a b@example.com", `pattern "a b@example.com" contains a space or control character`},
		{keySender, "<a@example.com>", `pattern "<a@example.com>": local part "<a": character '<' not allowed`},
		{keyRecipient, "<>", "<> (the null sender) is only for sender rules"},
		{keyHelo, "<>", "<> (the null sender) is only for sender rules"},
		{keyHelo, "user@example.com", `want a name or /regex/, got "user@example.com"`},
		{keyHelo, "@a@example.com", `want a name or /regex/, got "@a@example.com"`},
		{keyHelo, "@example.com", `want a name or /regex/, got "@example.com"`},
		{keyHelo, "two words", `pattern "two words" contains a space or control character`},
		{keyClient, "example.com", `want an address, a CIDR or /regex/, got "example.com"`},
		{keyClient, "192.0.2.1/24", "network 192.0.2.1/24 has host bits set (did you mean 192.0.2.0/24?)"},
		{keyClient, "2001:db8::1/32", "network 2001:db8::1/32 has host bits set (did you mean 2001:db8::/32?)"},
		{keyClient, "192.0.2.0/33", `want an address, a CIDR or /regex/, got "192.0.2.0/33"`},
		{keyClient, "192.0.2.0/40", `want an address, a CIDR or /regex/, got "192.0.2.0/40"`},
		{keyClient, "fe80::1%eth0", "address fe80::1%eth0 has a zone"},
		{keyClient, "256.0.0.1", `want an address, a CIDR or /regex/, got "256.0.0.1"`},
		{keyClient, "192.0.2.1 192.0.2.2", `pattern "192.0.2.1 192.0.2.2" contains a space or control character`},
	}
	for _, tt := range tests {
		_, err := parsePattern(tt.k, tt.pat)
		if err == nil || err.Error() != tt.want {
			t.Errorf("parsePattern(%s, %q) error = %v, want %q", tt.k, tt.pat, err, tt.want)
		}
	}
}
