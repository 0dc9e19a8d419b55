package dnsbl

import (
	"context"
	"net/netip"
	"strings"
	"testing"
)

// mapResolver answers every name with nothing.
type mapResolver struct{}

func (mapResolver) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	return nil, nil
}

// FuzzZone: any zone spec either fails or gives a valid zone name, a
// non-zero bounded weight, and patterns that never list an IPv6 answer.
func FuzzZone(f *testing.F) {
	for _, s := range []string{"zen.spamhaus.org", "zen.spamhaus.org=127.0.0.[2..11]", "a.b=127.0.[0;1].[2;4..6]*-3",
		"a.b=1.2.3.4,5.6.7.8*2", "a.b=[0..255].[0..255].[0..255].[0..255]", "a.b=127.0.0.[[2]]", "a.b*"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		z, err := parseZone(s)
		if err != nil {
			return
		}
		if _, err := parseName(z.name); err != nil || z.name != strings.ToLower(z.name) {
			t.Fatalf("%q: name %q: %v", s, z.name, err)
		}
		if z.weight == 0 || z.weight > maxWeight || z.weight < -maxWeight {
			t.Fatalf("%q: weight %d", s, z.weight)
		}
		if z.listedBy(netip.MustParseAddr("2001:db8::1")) {
			t.Fatalf("%q lists an IPv6 answer", s)
		}
	})
}

// FuzzReply: a reply that parses expands, with any facts, to a valid
// reply line of at most 512 octets.
func FuzzReply(f *testing.F) {
	for _, s := range []string{"554 5.7.1 Service unavailable; client [%a] blocked using %z", "%r", "550 %%z", "blocked", "554", "554 5.7.1"} {
		f.Add(s, "192.0.2.1")
	}
	f.Fuzz(func(t *testing.T, s, client string) {
		tp, err := parseTemplate(s, 554)
		if err != nil {
			return
		}
		a, err := netip.ParseAddr(client)
		if err != nil {
			a = netip.MustParseAddr("2001:db8::1")
		}
		r := &result{client: a, zones: []string{strings.Repeat("z", 180) + ".example", "b.example"}, codes: []string{"127.0.0.2"}}
		rep := tp.expand(r)
		if err := rep.Validate(); err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		if n := len(rep.String()) + 2; n > maxReplyLine {
			t.Fatalf("%q: line of %d octets", s, n)
		}
	})
}
