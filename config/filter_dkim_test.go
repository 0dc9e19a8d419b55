package config

import (
	"net/netip"
	"reflect"
	"testing"
	"time"
)

func TestLoadDKIM(t *testing.T) {
	clearEnv(t)
	defaults := DKIMFilter{Verify: true, DNSError: "accept", SignNetworks: prefixes("127.0.0.0/8", "::1/128"),
		SignAuthenticated: true, SignHeaders: []string{}, MaxMessageBytes: 10 << 20, Timeout: 10 * time.Second}
	tests := []struct {
		name string
		body string
		want DKIMFilter
	}{
		{"defaults", "[filters.dkim]", defaults},
		{"every key", `[filters.dkim]
verify = false
authserv_id = "mx.example.org"
reject_on_fail = true
dns_error = "tempfail"
sign_networks = ["192.0.2.0/24"]
sign_authenticated = false
sign_headers = ["From", "Subject"]
max_message_bytes = "1MiB"
timeout = "3s"
resolver = "127.0.0.1:5353"
[[filters.dkim.keys]]
domain = "example.com"
selector = "s1"
key_file = "/etc/dkim/s1.pem"
[[filters.dkim.keys]]
domain = "example.net"
selector = "s2"
key_file = "s2.pem"`, DKIMFilter{AuthservID: "mx.example.org", RejectOnFail: true, DNSError: "tempfail",
			SignNetworks: prefixes("192.0.2.0/24"), SignHeaders: []string{"From", "Subject"}, MaxMessageBytes: 1 << 20,
			Timeout: 3 * time.Second, Resolver: "127.0.0.1:5353", Keys: []DKIMKey{
				{Domain: "example.com", Selector: "s1", KeyFile: "/etc/dkim/s1.pem"},
				{Domain: "example.net", Selector: "s2", KeyFile: "s2.pem"}}}},
		{"no sign network", "[filters.dkim]\nsign_networks = []", func() DKIMFilter {
			d := defaults
			d.SignNetworks = []netip.Prefix{}
			return d
		}()},
		{"resolver without a port", "[filters.dkim]\nresolver = \"192.0.2.53\"", func() DKIMFilter {
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
			got := cfg.Filters.DKIM
			if got == nil || !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("Filters.DKIM = %+v\nwant %+v", got, tt.want)
			}
		})
	}
	cfg, err := Load(LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Filters.DKIM != nil {
		t.Errorf("without [filters.dkim] the filter is on: %+v", cfg.Filters.DKIM)
	}
}

// TestLoadDKIMErrors: every bad value is named by file and key.
func TestLoadDKIMErrors(t *testing.T) {
	clearEnv(t)
	tests := []struct {
		name string
		body string
		want []string
	}{
		{"bools", "verify = 1\nreject_on_fail = \"no\"\nsign_authenticated = \"x\"", []string{
			`F: filters.dkim.verify: want true or false, got integer 1`,
			`F: filters.dkim.reject_on_fail: want true or false, got "no"`,
			`F: filters.dkim.sign_authenticated: want true or false, got "x"`}},
		{"dns_error", `dns_error = "reject"`, []string{`F: filters.dkim.dns_error: unknown action "reject" (want accept, tempfail)`}},
		{"network", `sign_networks = ["10.0.0.1/8"]`, []string{
			`F: filters.dkim.sign_networks[0]: network 10.0.0.1/8 has host bits set (did you mean 10.0.0.0/8?)`}},
		{"sign_headers", `sign_headers = "From"`, []string{`F: filters.dkim.sign_headers: want an array of strings, got string "From"`}},
		{"size", `max_message_bytes = "0"`, []string{`F: filters.dkim.max_message_bytes: must be > 0`}},
		{"timeout", `timeout = "0s"`, []string{`F: filters.dkim.timeout: must be > 0`}},
		{"resolver", `resolver = "dns.example.com"`, []string{
			`F: filters.dkim.resolver: want a DNS server's IP address and port such as "127.0.0.1:53", got "dns.example.com"`}},
		{"unknown key", "rejects = true", []string{`F: filters.dkim.rejects: unknown key`}},
		{"key missing fields", "[[filters.dkim.keys]]\nkeyfile = \"x\"", []string{
			`F: filters.dkim.keys[0].keyfile: unknown key (did you mean "key_file"?)`,
			`F: filters.dkim.keys[0].domain: missing`,
			`F: filters.dkim.keys[0].selector: missing`,
			`F: filters.dkim.keys[0].key_file: missing`}},
		{"key empty fields", "[[filters.dkim.keys]]\ndomain = \"\"\nselector = 1", []string{
			`F: filters.dkim.keys[0].selector: want a string, got integer 1`,
			`F: filters.dkim.keys[0].domain: missing`,
			`F: filters.dkim.keys[0].key_file: missing`}},
		{"keys as table", "keys = \"x\"", []string{`F: filters.dkim.keys: want an array of tables ([[filters.dkim.keys]]), got string "x"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantLoadErrors(t, "[filters.dkim]\n"+tt.body, tt.want)
		})
	}
}
