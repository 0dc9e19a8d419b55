package tls

import (
	cryptotls "crypto/tls"
	"crypto/x509"
	"strings"
	"testing"
)

func TestParsePolicy(t *testing.T) {
	tests := []struct {
		in      string
		want    Policy
		wantErr bool
	}{
		{"none", PolicyNone, false},
		{"opportunistic", PolicyOpportunistic, false},
		{"required", PolicyRequired, false},
		{"verify", PolicyVerify, false},
		{"", "", true},
		{"Verify", "", true},
		{"may", "", true},
	}
	for _, tt := range tests {
		got, err := ParsePolicy(tt.in)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("ParsePolicy(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
		if err != nil && !strings.Contains(err.Error(), "opportunistic") {
			t.Errorf("ParsePolicy(%q) error %q does not name the valid policies", tt.in, err)
		}
	}
}

func TestMandatory(t *testing.T) {
	want := map[Policy]bool{PolicyNone: false, PolicyOpportunistic: false, PolicyRequired: true, PolicyVerify: true}
	for p, m := range want {
		if p.Mandatory() != m {
			t.Errorf("%s.Mandatory() = %v, want %v", p, !m, m)
		}
	}
}

func TestClientConfig(t *testing.T) {
	roots := x509.NewCertPool()
	tests := []struct {
		policy     Policy
		serverName string
		roots      *x509.CertPool
		wantNil    bool
		wantErr    string
		wantSkip   bool
		wantRoots  *x509.CertPool
	}{
		{policy: PolicyNone, serverName: "mx.test", wantNil: true},
		{policy: PolicyOpportunistic, serverName: "mx.test", wantSkip: true},
		{policy: PolicyRequired, serverName: "", wantSkip: true},
		{policy: PolicyVerify, serverName: "mx.test", roots: roots, wantRoots: roots},
		{policy: PolicyVerify, serverName: "mx.test"},
		{policy: PolicyVerify, serverName: "", wantErr: "server name"},
		{policy: "", wantErr: "unknown policy"},
		{policy: "dane", wantErr: "unknown policy"},
	}
	for _, tt := range tests {
		cfg, err := ClientConfig(tt.policy, tt.serverName, tt.roots)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ClientConfig(%q, %q): error %v, want one containing %q", tt.policy, tt.serverName, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ClientConfig(%q, %q): %v", tt.policy, tt.serverName, err)
			continue
		}
		if tt.wantNil {
			if cfg != nil {
				t.Errorf("ClientConfig(%q) = %+v, want nil", tt.policy, cfg)
			}
			continue
		}
		if cfg.MinVersion != cryptotls.VersionTLS12 || cfg.ServerName != tt.serverName ||
			cfg.InsecureSkipVerify != tt.wantSkip || cfg.RootCAs != tt.wantRoots {
			t.Errorf("ClientConfig(%q, %q) = min %x name %q skip %v roots %p; want min %x name %q skip %v roots %p",
				tt.policy, tt.serverName, cfg.MinVersion, cfg.ServerName, cfg.InsecureSkipVerify, cfg.RootCAs,
				cryptotls.VersionTLS12, tt.serverName, tt.wantSkip, tt.wantRoots)
		}
	}
}
