package config

import (
	"net/netip"
	"reflect"
	"testing"
	"time"
)

func TestLoadSPF(t *testing.T) {
	clearEnv(t)
	defaults := SPFFilter{FailAction: "reject", SoftFailAction: "tag", TempErrorAction: "tempfail",
		PermErrorAction: "accept", ReceivedSPF: true, Timeout: 20 * time.Second,
		SkipNetworks: prefixes("127.0.0.0/8", "::1/128")}
	tests := []struct {
		name string
		body string
		want SPFFilter
	}{
		{"defaults", "[filters.spf]", defaults},
		{"every key", `[filters.spf]
fail_action = "tag"
softfail_action = "tempfail"
temperror_action = "accept"
permerror_action = "reject"
received_spf = false
timeout = "5s"
skip_networks = ["192.0.2.0/24", "2001:db8::1"]
resolver = "127.0.0.1:5353"`, SPFFilter{FailAction: "tag", SoftFailAction: "tempfail", TempErrorAction: "accept",
			PermErrorAction: "reject", Timeout: 5 * time.Second, SkipNetworks: prefixes("192.0.2.0/24", "2001:db8::1/128"),
			Resolver: "127.0.0.1:5353"}},
		{"no skipped network", "[filters.spf]\nskip_networks = []", func() SPFFilter {
			d := defaults
			d.SkipNetworks = []netip.Prefix{}
			return d
		}()},
		{"resolver without a port", "[filters.spf]\nresolver = \"192.0.2.53\"", func() SPFFilter {
			d := defaults
			d.Resolver = "192.0.2.53:53"
			return d
		}()},
		{"ipv6 resolver", "[filters.spf]\nresolver = \"[2001:db8::53]:5353\"", func() SPFFilter {
			d := defaults
			d.Resolver = "[2001:db8::53]:5353"
			return d
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load(LoadOptions{File: writeConfig(t, tt.body)})
			if err != nil {
				t.Fatal(err)
			}
			got := cfg.Filters.SPF
			if got == nil || !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("Filters.SPF = %+v\nwant %+v", got, tt.want)
			}
		})
	}
	cfg, err := Load(LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Filters.SPF != nil {
		t.Errorf("without [filters.spf] the filter is on: %+v", cfg.Filters.SPF)
	}
}

// TestLoadSPFErrors: every bad value is named by file and key.
func TestLoadSPFErrors(t *testing.T) {
	clearEnv(t)
	tests := []struct {
		name string
		body string
		want []string
	}{
		{"actions", "fail_action = \"tempfail\"\nsoftfail_action = \"reject\"\ntemperror_action = \"reject\"\npermerror_action = \"tag\"", []string{
			`F: filters.spf.fail_action: unknown action "tempfail" (want reject, tag)`,
			`F: filters.spf.softfail_action: unknown action "reject" (want tag, tempfail)`,
			`F: filters.spf.temperror_action: unknown action "reject" (want tempfail, accept)`,
			`F: filters.spf.permerror_action: unknown action "tag" (want accept, reject)`}},
		{"action type", "fail_action = 1", []string{`F: filters.spf.fail_action: want a string, got integer 1`}},
		{"bool", `received_spf = "yes"`, []string{`F: filters.spf.received_spf: want true or false, got "yes"`}},
		{"timeout zero", `timeout = "0s"`, []string{`F: filters.spf.timeout: must be > 0`}},
		{"timeout bad", `timeout = "soon"`, []string{`F: filters.spf.timeout: bad duration "soon" (want e.g. "30s", "5m", "1h30m", "5d")`}},
		{"network", `skip_networks = ["10.0.0.1/8"]`, []string{
			`F: filters.spf.skip_networks[0]: network 10.0.0.1/8 has host bits set (did you mean 10.0.0.0/8?)`}},
		{"resolver name", `resolver = "dns.example.com:53"`, []string{
			`F: filters.spf.resolver: want a DNS server's IP address and port such as "127.0.0.1:53", got "dns.example.com:53"`}},
		{"resolver port", `resolver = "127.0.0.1:0"`, []string{
			`F: filters.spf.resolver: want a DNS server's IP address and port such as "127.0.0.1:53", got "127.0.0.1:0"`}},
		{"resolver type", `resolver = 53`, []string{`F: filters.spf.resolver: want a string, got integer 53`}},
		{"unknown key", "fail = \"tag\"", []string{`F: filters.spf.fail: unknown key`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantLoadErrors(t, "[filters.spf]\n"+tt.body, tt.want)
		})
	}
}

func TestChangedSPF(t *testing.T) {
	clearEnv(t)
	load := func(body string) *Config { return mustLoad(t, body) }
	a := load("[filters.spf]\nfail_action = \"tag\"")
	if got := Changed(a, load("[filters.spf]")); !reflect.DeepEqual(got, []string{"filters.spf"}) {
		t.Errorf("Changed = %q, want [filters.spf]", got)
	}
	if got := Changed(a, load("[filters.spf]\nfail_action = \"tag\"\ntimeout = \"20s\"")); len(got) != 0 {
		t.Errorf("Changed = %q for the same values, want none", got)
	}
}
