package config

import (
	"reflect"
	"testing"
	"time"
)

func TestDNSBLDefaults(t *testing.T) {
	clearEnv(t)
	cfg, err := Load(LoadOptions{File: writeConfig(t, "[filters.dnsbl]\nzones = [\"zen.spamhaus.org=127.0.0.[2..11]\"]\n")})
	if err != nil {
		t.Fatal(err)
	}
	want := &DNSBLFilter{
		Zones:        []string{"zen.spamhaus.org=127.0.0.[2..11]"},
		Threshold:    1,
		Action:       "reject",
		RejectAt:     "connect",
		Timeout:      5 * time.Second,
		SkipNetworks: prefixes("127.0.0.0/8", "::1/128"),
		OnDNSError:   "accept",
	}
	if !reflect.DeepEqual(cfg.Filters.DNSBL, want) {
		t.Errorf("got  %+v\nwant %+v", cfg.Filters.DNSBL, want)
	}
	if cfg.Filters.Headers != nil || cfg.Filters.Access != nil {
		t.Errorf("a [filters] table turns the other built-ins off: %+v", cfg.Filters)
	}
}

func TestDNSBLAllKeys(t *testing.T) {
	clearEnv(t)
	body := `[filters.dnsbl]
zones = ["a.example*2", "b.example=127.0.0.2"]
threshold = 3
action = "tag"
reply = "550 %a in %z"
reject_at = "rcpt"
timeout = "800ms"
skip_networks = []
on_dns_error = "tempfail"
resolver = "127.0.0.1:5353"
`
	cfg, err := Load(LoadOptions{File: writeConfig(t, body)})
	if err != nil {
		t.Fatal(err)
	}
	want := &DNSBLFilter{
		Zones: []string{"a.example*2", "b.example=127.0.0.2"}, Threshold: 3, Action: "tag", Reply: "550 %a in %z",
		RejectAt: "rcpt", Timeout: 800 * time.Millisecond, SkipNetworks: prefixes(), OnDNSError: "tempfail",
		Resolver: "127.0.0.1:5353",
	}
	if !reflect.DeepEqual(cfg.Filters.DNSBL, want) {
		t.Errorf("got  %+v\nwant %+v", cfg.Filters.DNSBL, want)
	}
	if cfg.Filters.DNSBL.SkipNetworks == nil {
		t.Error("skip_networks = [] must be an empty, non-nil list (skip none)")
	}
}

func TestDNSBLErrors(t *testing.T) {
	clearEnv(t)
	for _, c := range []struct {
		name, body string
		want       []string
	}{
		{"no zones", "[filters.dnsbl]", []string{`F: filters.dnsbl.zones: want at least one zone, e.g. ["zen.spamhaus.org"]`}},
		{"zones not strings", "[filters.dnsbl]\nzones = [\"a.example\", 3]",
			[]string{`F: filters.dnsbl.zones[1]: want a string, got integer 3`}},
		{"unknown key", "[filters.dnsbl]\nzones = [\"a.example\"]\nzone = \"b.example\"",
			[]string{`F: filters.dnsbl.zone: unknown key (did you mean "zones"?)`}},
		{"values", `[filters.dnsbl]
zones = ["a.example"]
threshold = 0
action = "drop"
reject_at = "data"
timeout = "0s"
skip_networks = ["10.1.2.3/8"]
on_dns_error = "reject"
resolver = "dns.example:53"
`, []string{
			`F: filters.dnsbl.threshold: must be > 0, got 0`,
			`F: filters.dnsbl.action: unknown action "drop" (want reject, tempfail, tag)`,
			`F: filters.dnsbl.reject_at: unknown stage "data" (want connect, rcpt)`,
			`F: filters.dnsbl.timeout: must be > 0`,
			`F: filters.dnsbl.skip_networks[0]: network 10.1.2.3/8 has host bits set (did you mean 10.0.0.0/8?)`,
			`F: filters.dnsbl.on_dns_error: unknown choice "reject" (want accept, tempfail)`,
			`F: filters.dnsbl.resolver: want a DNS server's IP address and port such as "127.0.0.1:53", got "dns.example:53"`,
		}},
		{"timeout too long", "[filters.dnsbl]\nzones = [\"a.example\"]\ntimeout = \"5m\"",
			[]string{`F: filters.dnsbl.timeout: must be at most 2m, got 5m0s`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			wantLoadErrors(t, c.body, c.want)
		})
	}
}

func TestDNSBLChanged(t *testing.T) {
	clearEnv(t)
	load := func(body string) *Config { return mustLoad(t, body) }
	a := load("[filters.dnsbl]\nzones = [\"a.example\"]")
	b := load("[filters.dnsbl]\nzones = [\"a.example\"]\nthreshold = 2")
	if got := Changed(a, b); !reflect.DeepEqual(got, []string{"filters.dnsbl"}) {
		t.Errorf("Changed = %q, want [filters.dnsbl]", got)
	}
}
