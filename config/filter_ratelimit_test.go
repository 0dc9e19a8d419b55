package config

import (
	"net/netip"
	"reflect"
	"testing"
	"time"
)

func TestLoadRateLimit(t *testing.T) {
	clearEnv(t)
	defaults := RateLimitFilter{Window: time.Minute, IPv6Prefix: 64, MaxClients: 100000,
		ExemptNetworks: prefixes("127.0.0.0/8", "::1/128")}
	tests := []struct {
		name string
		body string
		want RateLimitFilter
	}{
		{"defaults", "[filters.ratelimit]", defaults},
		{"every key", `[filters.ratelimit]
connections = 30
messages = 100
recipients = 500
window = "1h"
ipv6_prefix = 48
max_clients = 5000
exempt_networks = ["192.0.2.0/24", "2001:db8::1"]
exempt_authenticated = true`, RateLimitFilter{Connections: 30, Messages: 100, Recipients: 500, Window: time.Hour,
			IPv6Prefix: 48, MaxClients: 5000, ExemptNetworks: prefixes("192.0.2.0/24", "2001:db8::1/128"), ExemptAuthenticated: true}},
		{"no exemption", "[filters.ratelimit]\nmessages = 2\nexempt_networks = []", RateLimitFilter{Messages: 2,
			Window: time.Minute, IPv6Prefix: 64, MaxClients: 100000, ExemptNetworks: []netip.Prefix{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load(LoadOptions{File: writeConfig(t, tt.body)})
			if err != nil {
				t.Fatal(err)
			}
			got := cfg.Filters.RateLimit
			if got == nil || !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("Filters.RateLimit = %+v\nwant %+v", got, tt.want)
			}
			if cfg.Filters.Headers != nil {
				t.Errorf("a [filters] table in the file left the default headers filter on")
			}
		})
	}
	cfg, err := Load(LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Filters.RateLimit != nil {
		t.Errorf("without [filters.ratelimit] the filter is on: %+v", cfg.Filters.RateLimit)
	}
}

// TestLoadRateLimitErrors: every bad value is named by file and key.
func TestLoadRateLimitErrors(t *testing.T) {
	clearEnv(t)
	tests := []struct {
		name string
		body string
		want []string
	}{
		{"negative counts", "connections = -1\nmessages = -2\nrecipients = -3", []string{
			`F: filters.ratelimit.connections: must be >= 0, got -1`,
			`F: filters.ratelimit.messages: must be >= 0, got -2`,
			`F: filters.ratelimit.recipients: must be >= 0, got -3`}},
		{"count type", `messages = "many"`, []string{`F: filters.ratelimit.messages: want an integer, got "many"`}},
		{"window zero", `window = "0s"`, []string{`F: filters.ratelimit.window: must be > 0`}},
		{"window bad", `window = "1 minute"`, []string{`F: filters.ratelimit.window: bad duration "1 minute" (want e.g. "30s", "5m", "1h30m", "5d")`}},
		{"prefix range", "ipv6_prefix = 129", []string{`F: filters.ratelimit.ipv6_prefix: must be 1 to 128, got 129`}},
		{"prefix zero", "ipv6_prefix = 0", []string{`F: filters.ratelimit.ipv6_prefix: must be 1 to 128, got 0`}},
		{"max clients", "max_clients = 0", []string{`F: filters.ratelimit.max_clients: must be > 0, got 0`}},
		{"network", `exempt_networks = ["10.0.0.1/8", "nope"]`, []string{
			`F: filters.ratelimit.exempt_networks[0]: network 10.0.0.1/8 has host bits set (did you mean 10.0.0.0/8?)`,
			`F: filters.ratelimit.exempt_networks[1]: bad network "nope" (want an address or CIDR such as 192.0.2.0/24)`}},
		{"networks type", `exempt_networks = "127.0.0.0/8"`, []string{`F: filters.ratelimit.exempt_networks: want an array of strings, got string "127.0.0.0/8"`}},
		{"bool", `exempt_authenticated = "yes"`, []string{`F: filters.ratelimit.exempt_authenticated: want true or false, got "yes"`}},
		{"unknown key", "message = 3", []string{`F: filters.ratelimit.message: unknown key (did you mean "messages"?)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantLoadErrors(t, "[filters.ratelimit]\n"+tt.body, tt.want)
		})
	}
}

func TestChangedRateLimit(t *testing.T) {
	clearEnv(t)
	load := func(body string) *Config { return mustLoad(t, body) }
	a := load("[filters.ratelimit]\nmessages = 2")
	b := load("[filters.ratelimit]\nmessages = 3")
	if got := Changed(a, b); !reflect.DeepEqual(got, []string{"filters.ratelimit"}) {
		t.Errorf("Changed = %q, want [filters.ratelimit]", got)
	}
	if got := Changed(a, load("[filters.ratelimit]\nmessages = 2\nwindow = \"60s\"")); len(got) != 0 {
		t.Errorf("Changed = %q for the same values, want none", got)
	}
}
