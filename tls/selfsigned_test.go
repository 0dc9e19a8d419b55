package tls

import (
	cryptotls "crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

func TestSelfSignedLeaf(t *testing.T) {
	tests := []struct {
		host    string
		wantDNS []string
		wantIP  string
	}{
		{host: "mx.example.test", wantDNS: []string{"mx.example.test"}},
		{host: "127.0.0.1", wantIP: "127.0.0.1"},
		{host: "::1", wantIP: "::1"},
	}
	for _, tt := range tests {
		cert, err := SelfSigned(tt.host)
		if err != nil {
			t.Fatalf("SelfSigned(%q): %v", tt.host, err)
		}
		leaf := cert.Leaf
		if leaf.Subject.CommonName != tt.host || strings.Join(leaf.DNSNames, ",") != strings.Join(tt.wantDNS, ",") {
			t.Errorf("SelfSigned(%q): CN %q DNS %v", tt.host, leaf.Subject.CommonName, leaf.DNSNames)
		}
		if tt.wantIP != "" && (len(leaf.IPAddresses) != 1 || !leaf.IPAddresses[0].Equal(net.ParseIP(tt.wantIP))) {
			t.Errorf("SelfSigned(%q): IP SANs %v", tt.host, leaf.IPAddresses)
		}
		if err := leaf.VerifyHostname(tt.host); err != nil {
			t.Errorf("SelfSigned(%q): %v", tt.host, err)
		}
		if !leaf.NotBefore.Before(time.Now()) || leaf.NotAfter.Before(time.Now().Add(300*24*time.Hour)) {
			t.Errorf("SelfSigned(%q): valid %v to %v", tt.host, leaf.NotBefore, leaf.NotAfter)
		}
	}
	if _, err := SelfSigned(""); err == nil {
		t.Error("SelfSigned(\"\") succeeded")
	}
}

// handshake runs a TLS handshake over loopback TCP between a server
// presenting cert and a client using cfg, and returns the client's error.
func handshake(t *testing.T, cert cryptotls.Certificate, cfg *cryptotls.Config) error {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		s, err := l.Accept()
		if err != nil {
			return
		}
		defer s.Close()
		_ = s.SetDeadline(time.Now().Add(10 * time.Second))
		srv := cryptotls.Server(s, &cryptotls.Config{Certificates: []cryptotls.Certificate{cert}, MinVersion: cryptotls.VersionTLS10})
		if srv.Handshake() == nil {
			_, _ = srv.Read(make([]byte, 1)) // until the client closes
		}
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	err = cryptotls.Client(c, cfg).Handshake()
	c.Close()
	<-done
	return err
}

func TestClientConfigHandshake(t *testing.T) {
	cert, err := SelfSigned("mx.example.test")
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert.Leaf)
	other, err := SelfSigned("mx.example.test")
	if err != nil {
		t.Fatal(err)
	}
	otherPool := x509.NewCertPool()
	otherPool.AddCert(other.Leaf)
	tests := []struct {
		name       string
		policy     Policy
		serverName string
		roots      *x509.CertPool
		maxVersion uint16
		wantErr    bool
	}{
		{"opportunistic accepts self-signed", PolicyOpportunistic, "mx.example.test", nil, 0, false},
		{"required accepts a wrong name", PolicyRequired, "other.test", nil, 0, false},
		{"verify with the right root", PolicyVerify, "mx.example.test", pool, 0, false},
		{"verify with a wrong name", PolicyVerify, "other.test", pool, 0, true},
		{"verify with another root", PolicyVerify, "mx.example.test", otherPool, 0, true},
		{"TLS 1.1 refused", PolicyOpportunistic, "mx.example.test", nil, cryptotls.VersionTLS11, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ClientConfig(tt.policy, tt.serverName, tt.roots)
			if err != nil {
				t.Fatal(err)
			}
			if tt.maxVersion != 0 {
				cfg.MaxVersion = tt.maxVersion
			}
			err = handshake(t, cert, cfg)
			if (err != nil) != tt.wantErr {
				t.Fatalf("handshake error %v, want error %v", err, tt.wantErr)
			}
			var verr *cryptotls.CertificateVerificationError
			if tt.wantErr && tt.maxVersion == 0 && !errors.As(err, &verr) {
				t.Errorf("error %v is not a certificate verification error", err)
			}
		})
	}
}
