package smtpclient

import (
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/tls"
)

func TestParseAddress(t *testing.T) {
	tests := []struct {
		in      string
		want    target
		wantErr bool
	}{
		{"smtp://127.0.0.1:2525", target{false, "tcp", "127.0.0.1:2525", "127.0.0.1"}, false},
		{"smtp://mx.example.org", target{false, "tcp", "mx.example.org:25", "mx.example.org"}, false},
		{"SMTP://[::1]:25", target{false, "tcp", "[::1]:25", "::1"}, false},
		{"smtp://[::1]", target{false, "tcp", "[::1]:25", "::1"}, false},
		{"lmtp://127.0.0.1:24", target{true, "tcp", "127.0.0.1:24", "127.0.0.1"}, false},
		{"lmtp://mda.test", target{true, "tcp", "mda.test:24", "mda.test"}, false},
		{"lmtp+unix:/run/lmtp.sock", target{true, "unix", "/run/lmtp.sock", ""}, false},
		{"lmtp+unix:///run/lmtp.sock", target{true, "unix", "/run/lmtp.sock", ""}, false},
		{"127.0.0.1:25", target{}, true},
		{"smtp:127.0.0.1:25", target{}, true},
		{"smtp://", target{}, true},
		{"smtp://:25", target{}, true},
		{"smtp://u@host:25", target{}, true},
		{"lmtp+unix:", target{}, true},
		{"maildir:/var/mail", target{}, true},
		{"http://x:80", target{}, true},
	}
	for _, tt := range tests {
		got, err := parseAddress(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseAddress(%q) = %+v, %v; want %+v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestNewOptions(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		wantErr string
	}{
		{"bad address", Options{Address: "smtp//x"}, "scheme"},
		{"bad policy", Options{Address: "smtp://x:25", TLS: "may"}, "unknown policy"},
		{"verify over unix without a name", Options{Address: "lmtp+unix:/s", TLS: tls.PolicyVerify}, "server name"},
		{"auth without user", Options{Address: "smtp://x:25", Auth: &Auth{Password: "p"}}, "user name"},
		{"auth mechanism", Options{Address: "smtp://x:25", Auth: &Auth{Username: "u", Mechanism: "CRAM-MD5"}}, "CRAM-MD5"},
		{"helo with space", Options{Address: "smtp://x:25", HeloName: "a b"}, "white space"},
	}
	for _, tt := range tests {
		_, err := New(tt.opts)
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%s: New error %v, want one containing %q", tt.name, err, tt.wantErr)
		}
	}
}

func TestNewDefaults(t *testing.T) {
	c, err := New(Options{Address: "smtp://mx.test", Auth: &Auth{Username: "u", Mechanism: "login"}})
	if err != nil {
		t.Fatal(err)
	}
	o := c.opts
	if o.TLS != tls.PolicyOpportunistic || o.TLSServerName != "mx.test" || o.MaxConnections != 10 ||
		o.MaxMessagesPerConn != 100 || o.IdleTimeout != 30*time.Second || o.HeloName == "" ||
		o.Auth.Mechanism != "LOGIN" || o.Dialer == nil || o.Logger == nil {
		t.Errorf("defaults: %+v", o)
	}
	want := Timeouts{30 * time.Second, 5 * time.Minute, 5 * time.Minute, 5 * time.Minute, 5 * time.Minute,
		2 * time.Minute, 3 * time.Minute, 10 * time.Minute}
	if o.Timeouts != want {
		t.Errorf("timeouts %+v, want %+v", o.Timeouts, want)
	}
	if c.tlsConfig == nil || !c.tlsConfig.InsecureSkipVerify || c.tlsConfig.ServerName != "mx.test" {
		t.Errorf("TLS config %+v", c.tlsConfig)
	}
	if c.remote != "mx.test:25" {
		t.Errorf("remote %q", c.remote)
	}
}
