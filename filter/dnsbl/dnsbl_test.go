package dnsbl

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/filter"
)

func TestNewErrors(t *testing.T) {
	zones := []string{"bl.test"}
	for _, c := range []struct {
		name string
		opts Options
		want string
	}{
		{"no_zones", Options{}, "zones: want at least one zone"},
		{"bad_zone", Options{Zones: []string{"bl.test", "nodot"}}, `zones[1]: "nodot": zone name "nodot" has one label, want a domain such as zen.spamhaus.org`},
		{"bad_codes", Options{Zones: []string{"bl.test=127.0.0.[2..300]"}}, `zones[0]: "bl.test=127.0.0.[2..300]": return codes "127.0.0.[2..300]": pattern "127.0.0.[2..300]": octet "300": want a number from 0 to 255`},
		{"zero_weight", Options{Zones: []string{"bl.test*0"}}, `zones[0]: "bl.test*0": weight 0: want a non-zero integer from -1000000 to 1000000`},
		{"action", Options{Zones: zones, Action: "drop"}, `action: "drop": want reject, tempfail or tag`},
		{"reject_at", Options{Zones: zones, RejectAt: "data"}, `reject_at: "data": want connect or rcpt`},
		{"on_dns_error", Options{Zones: zones, OnDNSError: "reject"}, `on_dns_error: "reject": want accept or tempfail`},
		{"threshold", Options{Zones: zones, Threshold: -1}, "threshold: -1: want at least 1"},
		{"timeout", Options{Zones: zones, Timeout: -time.Second}, "timeout: -1s: want more than 0 and at most 2m0s"},
		{"timeout_long", Options{Zones: zones, Timeout: time.Hour}, "timeout: 1h0m0s: want more than 0 and at most 2m0s"},
		{"reply_class", Options{Zones: zones, Reply: "451 go away"}, `reply: "451 go away": code 451: want a 5xx code`},
		{"reply_tempfail_class", Options{Zones: zones, Action: "tempfail", Reply: "550 go away"}, `reply: "550 go away": code 550: want a 4xx code`},
		{"reply_enhanced", Options{Zones: zones, Reply: "550 4.7.1 go away"}, `reply: "550 4.7.1 go away": enhanced status code "4.7.1": want 5.x.y (RFC 3463 §2)`},
		{"reply_placeholder", Options{Zones: zones, Reply: "blocked by %s"}, `reply: "blocked by %s": unknown placeholder "%s" (want %a, %z, %r or %%)`},
		{"reply_crlf", Options{Zones: zones, Reply: "a\r\nb"}, `reply: "a\r\nb": contains control character '\r' (one line only)`},
		{"reply_tag", Options{Zones: zones, Action: "tag", Reply: "550 x"}, "reply: not for action tag, which only adds a header"},
		{"server", Options{Zones: zones, Server: "127.0.0.1"}, `server: "127.0.0.1": want host:port such as 127.0.0.1:53`},
		{"server_and_resolver", Options{Zones: zones, Server: "127.0.0.1:53", Resolver: mapResolver{}}, "server: not with a Resolver"},
		{"several", Options{Zones: []string{"a", "b"}, Action: "x"}, `zones[0]: "a": zone name "a" has one label, want a domain such as zen.spamhaus.org` + "\n" +
			`zones[1]: "b": zone name "b" has one label, want a domain such as zen.spamhaus.org` + "\n" + `action: "x": want reject, tempfail or tag`},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, err := New(c.opts)
			if err == nil {
				t.Fatalf("New succeeded: %+v", f)
			}
			if err.Error() != c.want {
				t.Errorf("error %q\nwant  %q", err, c.want)
			}
		})
	}
	_, err := New(Options{Zones: []string{"bl.test", "bad zone"}})
	var oe *OptionError
	if !errors.As(err, &oe) || oe.Key != "zones[1]" {
		t.Errorf("error %v: want an *OptionError for zones[1]", err)
	}
}

func TestNeeds(t *testing.T) {
	connect := filter.Stages(filter.StageConnect)
	rcpt := filter.Stages(filter.StageRcpt)
	eom := filter.Stages(filter.StageEndOfMessage)
	for _, c := range []struct {
		name          string
		opts          Options
		used, noReply filter.StageSet
		edits         filter.EditSet
	}{
		{"reject", Options{}, connect, 0, 0},
		{"tempfail_rcpt", Options{Action: "tempfail", RejectAt: "rcpt"}, connect | rcpt, connect, 0},
		{"tag", Options{Action: "tag"}, connect | eom, connect | eom, filter.EditAddHeader},
		{"tag_rcpt", Options{Action: "tag", RejectAt: "rcpt"}, connect | eom, connect | eom, filter.EditAddHeader},
		{"tag_dns_tempfail", Options{Action: "tag", OnDNSError: "tempfail"}, connect | eom, eom, filter.EditAddHeader},
		{"tag_dns_tempfail_rcpt", Options{Action: "tag", OnDNSError: "tempfail", RejectAt: "rcpt"}, connect | rcpt | eom, connect | eom, filter.EditAddHeader},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.opts.Zones = []string{"bl.test"}
			f, err := New(c.opts)
			if err != nil {
				t.Fatal(err)
			}
			n := f.Needs()
			if n.Skip != filter.AllStages&^c.used || n.NoReply != c.noReply || n.Edits != c.edits {
				t.Errorf("skip %v noreply %v edits %v; want used %v noreply %v edits %v", n.Skip, n.NoReply, n.Edits, c.used, c.noReply, c.edits)
			}
			if n.Macros == nil || len(n.Macros) != 0 {
				t.Errorf("macros %v, want an empty non-nil map", n.Macros)
			}
		})
	}
}

func TestQueryName(t *testing.T) {
	for _, c := range []struct{ addr, want string }{
		{"192.0.2.99", "99.2.0.192.bl.example."},
		{"127.0.0.2", "2.0.0.127.bl.example."},
		{"255.10.0.1", "1.0.10.255.bl.example."},
		// RFC 5782 §2.4's example.
		{"2001:db8:1:2:3:4:567:89ab", "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.bl.example."},
		{"::1", "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.bl.example."},
	} {
		if got := queryName(netip.MustParseAddr(c.addr), "bl.example"); got != c.want {
			t.Errorf("queryName(%s) = %q, want %q", c.addr, got, c.want)
		}
	}
}

func TestParseZone(t *testing.T) {
	for _, c := range []struct {
		spec       string
		name       string
		weight     int
		list, pass []string
	}{
		{"Zen.Spamhaus.ORG.", "zen.spamhaus.org", 1, []string{"127.0.0.2", "127.1.2.3"}, []string{"126.0.0.2", "10.0.0.1"}},
		{"zen.spamhaus.org=127.0.0.[2..11]", "zen.spamhaus.org", 1, []string{"127.0.0.2", "127.0.0.11"}, []string{"127.0.0.1", "127.0.0.12"}},
		{"b_l.example=127.0.[0;1].[2;4..6]*-3", "b_l.example", -3, []string{"127.0.0.2", "127.0.1.5"}, []string{"127.0.2.2", "127.0.0.3"}},
		{"bl.example=127.0.0.2,127.0.0.4*20", "bl.example", 20, []string{"127.0.0.2", "127.0.0.4"}, []string{"127.0.0.3"}},
	} {
		z, err := parseZone(c.spec)
		if err != nil {
			t.Errorf("parseZone(%q): %v", c.spec, err)
			continue
		}
		if z.name != c.name || z.weight != c.weight {
			t.Errorf("parseZone(%q) = %q*%d, want %q*%d", c.spec, z.name, z.weight, c.name, c.weight)
		}
		for _, a := range c.list {
			if !z.listedBy(netip.MustParseAddr(a)) {
				t.Errorf("%q: %s does not list", c.spec, a)
			}
		}
		for _, a := range c.pass {
			if z.listedBy(netip.MustParseAddr(a)) {
				t.Errorf("%q: %s lists", c.spec, a)
			}
		}
	}
	for _, bad := range []string{"", " bl.example", "bl..example", "-a.example", "bl.example=", "bl.example=127.0.0",
		"bl.example=127.0.0.[2..1]", "bl.example=127.0.0.[2", "bl.example=127.0.0.2]", "bl.example=127.0.0.[[2]]",
		"bl.example*", "bl.example*+2", "bl.example*x", "bl.example*2000000", "bl.example=127.0.0.-1", "bl.ex ample",
		strings.Repeat("a.", 95) + "example"} {
		if z, err := parseZone(bad); err == nil {
			t.Errorf("parseZone(%q) = %+v, want an error", bad, z)
		}
	}
}

func TestExpandCuts(t *testing.T) {
	tp, err := parseTemplate("550 %z", 554)
	if err != nil {
		t.Fatal(err)
	}
	r := &result{client: netip.MustParseAddr(listed4)}
	for range 10 {
		r.zones = append(r.zones, strings.Repeat("z", 60)+".example")
	}
	rep := tp.expand(r)
	if n := len(rep.String()) + 2; n != maxReplyLine {
		t.Errorf("reply line of %d octets, want %d", n, maxReplyLine)
	}
	if err := rep.Validate(); err != nil {
		t.Error(err)
	}
	tp, _ = parseTemplate("100%% sure: %a", 554)
	if got := tp.expand(r).String(); got != "554 5.7.1 100% sure: 192.0.2.99" {
		t.Errorf("got %q", got)
	}
}
