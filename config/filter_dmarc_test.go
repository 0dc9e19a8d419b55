package config

import (
	"net/netip"
	"reflect"
	"testing"
	"time"
)

func TestLoadDMARC(t *testing.T) {
	clearEnv(t)
	defaults := DMARCFilter{DNSError: "accept", Timeout: 10 * time.Second,
		SkipNetworks: prefixes("127.0.0.0/8", "::1/128")}
	tests := []struct {
		name string
		body string
		want DMARCFilter
	}{
		{"defaults", "[filters.dmarc]", defaults},
		{"every key", `[filters.dmarc]
authserv_id = "mx.example.org"
enforce = true
on_dns_error = "tempfail"
skip_networks = ["192.0.2.0/24", "2001:db8::1"]
timeout = "5s"
resolver = "127.0.0.1:5353"`, DMARCFilter{AuthservID: "mx.example.org", Enforce: true, DNSError: "tempfail",
			SkipNetworks: prefixes("192.0.2.0/24", "2001:db8::1/128"), Timeout: 5 * time.Second, Resolver: "127.0.0.1:5353"}},
		{"no skipped network", "[filters.dmarc]\nskip_networks = []", func() DMARCFilter {
			d := defaults
			d.SkipNetworks = []netip.Prefix{}
			return d
		}()},
		{"resolver without a port", "[filters.dmarc]\nresolver = \"192.0.2.53\"", func() DMARCFilter {
			d := defaults
			d.Resolver = "192.0.2.53:53"
			return d
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load(LoadOptions{File: writeConfig(t, tt.body)})
			if err != nil {
				t.Fatal(err)
			}
			got := cfg.Filters.DMARC
			if got == nil || !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("Filters.DMARC = %+v\nwant %+v", got, tt.want)
			}
		})
	}
	cfg, err := Load(LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Filters.DMARC != nil {
		t.Errorf("without [filters.dmarc] the filter is on: %+v", cfg.Filters.DMARC)
	}
}

// TestLoadDMARCErrors: every bad value is named by file and key.
func TestLoadDMARCErrors(t *testing.T) {
	clearEnv(t)
	tests := []struct {
		name string
		body string
		want []string
	}{
		{"action", `on_dns_error = "reject"`, []string{`F: filters.dmarc.on_dns_error: unknown action "reject" (want accept, tempfail)`}},
		{"bool", `enforce = "yes"`, []string{`F: filters.dmarc.enforce: want true or false, got "yes"`}},
		{"authserv_id type", `authserv_id = 1`, []string{`F: filters.dmarc.authserv_id: want a string, got integer 1`}},
		{"timeout zero", `timeout = "0s"`, []string{`F: filters.dmarc.timeout: must be > 0`}},
		{"network", `skip_networks = ["10.0.0.1/8"]`, []string{
			`F: filters.dmarc.skip_networks[0]: network 10.0.0.1/8 has host bits set (did you mean 10.0.0.0/8?)`}},
		{"resolver name", `resolver = "dns.example.com:53"`, []string{
			`F: filters.dmarc.resolver: want a DNS server's IP address and port such as "127.0.0.1:53", got "dns.example.com:53"`}},
		{"unknown key", "policy = \"reject\"", []string{`F: filters.dmarc.policy: unknown key`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantLoadErrors(t, "[filters.dmarc]\n"+tt.body, tt.want)
		})
	}
}

func TestChangedDMARC(t *testing.T) {
	clearEnv(t)
	load := func(body string) *Config { return mustLoad(t, body) }
	a := load("[filters.dmarc]\nenforce = true")
	if got := Changed(a, load("[filters.dmarc]")); !reflect.DeepEqual(got, []string{"filters.dmarc"}) {
		t.Errorf("Changed = %q, want [filters.dmarc]", got)
	}
	if got := Changed(a, load("[filters.dmarc]\nenforce = true\ntimeout = \"10s\"")); len(got) != 0 {
		t.Errorf("Changed = %q for the same values, want none", got)
	}
}
