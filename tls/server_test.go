package tls

import (
	"bytes"
	cryptotls "crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writePEM writes cert and its key as PEM files in dir.
func writePEM(t *testing.T, dir string, cert cryptotls.Certificate) (certFile, keyFile string) {
	t.Helper()
	key, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	cp := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]})
	kp := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key})
	if err := os.WriteFile(certFile, cp, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, kp, 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// serverLeaf handshakes with a server using cfg and returns the leaf
// certificate it presented, or the client's handshake error.
func serverLeaf(t *testing.T, cfg *cryptotls.Config, maxVersion uint16) (*x509.Certificate, error) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		s := cryptotls.Server(c, cfg)
		if s.Handshake() == nil {
			_, _ = s.Read(make([]byte, 1))
		}
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	cc := cryptotls.Client(c, &cryptotls.Config{InsecureSkipVerify: true, MaxVersion: maxVersion})
	err = cc.Handshake()
	var leaf *x509.Certificate
	if err == nil {
		leaf = cc.ConnectionState().PeerCertificates[0]
	}
	c.Close()
	<-done
	return leaf, err
}

func TestServerCertificatesSelfSigned(t *testing.T) {
	certs, err := NewServerCertificates(ServerCertOptions{Hostname: "mx.example.test"})
	if err != nil {
		t.Fatal(err)
	}
	if !certs.SelfSigned() || certs.Certificate().Leaf.Subject.CommonName != "mx.example.test" {
		t.Fatalf("self-signed %v, CN %q", certs.SelfSigned(), certs.Certificate().Leaf.Subject.CommonName)
	}
	before := certs.Certificate()
	if err := certs.Reload(); err != nil || certs.Certificate() != before {
		t.Fatalf("Reload of a self-signed certificate: %v, changed %v", err, certs.Certificate() != before)
	}
	leaf, err := serverLeaf(t, ServerConfig(certs), 0)
	if err != nil || !bytes.Equal(leaf.Raw, before.Leaf.Raw) {
		t.Fatalf("handshake: %v", err)
	}
}

func TestServerCertificatesFilesAndReload(t *testing.T) {
	dir := t.TempDir()
	first, err := SelfSigned("one.example.test")
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := writePEM(t, dir, first)
	certs, err := NewServerCertificates(ServerCertOptions{CertFile: certFile, KeyFile: keyFile, Hostname: "ignored.test"})
	if err != nil {
		t.Fatal(err)
	}
	cfg := ServerConfig(certs)
	if leaf, err := serverLeaf(t, cfg, 0); err != nil || leaf.Subject.CommonName != "one.example.test" {
		t.Fatalf("first handshake: %v %v", leaf, err)
	}

	second, err := SelfSigned("two.example.test")
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, dir, second)
	if err := certs.Reload(); err != nil {
		t.Fatal(err)
	}
	if leaf, err := serverLeaf(t, cfg, 0); err != nil || leaf.Subject.CommonName != "two.example.test" {
		t.Fatalf("handshake after reload: %v %v", leaf, err)
	}

	// A broken file: the error names it and the certificate in use stays.
	if err := os.WriteFile(keyFile, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	err = certs.Reload()
	if err == nil || !strings.Contains(err.Error(), keyFile) {
		t.Fatalf("Reload with a broken key: %v", err)
	}
	if certs.Certificate().Leaf.Subject.CommonName != "two.example.test" {
		t.Fatal("a failed reload replaced the certificate")
	}
}

func TestServerCertificatesErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		opts ServerCertOptions
		want string
	}{
		{"cert without key", ServerCertOptions{CertFile: "c.pem"}, "go together"},
		{"key without cert", ServerCertOptions{KeyFile: "k.pem"}, "go together"},
		{"no host name", ServerCertOptions{}, "host name"},
		{"missing files", ServerCertOptions{CertFile: filepath.Join(dir, "c.pem"), KeyFile: filepath.Join(dir, "k.pem")}, "c.pem"},
	}
	for _, tt := range tests {
		_, err := NewServerCertificates(tt.opts)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.want)
		}
	}
}

func TestServerConfigVersions(t *testing.T) {
	certs, err := NewServerCertificates(ServerCertOptions{Hostname: "mx.example.test"})
	if err != nil {
		t.Fatal(err)
	}
	cfg := ServerConfig(certs)
	for _, tt := range []struct {
		max     uint16
		wantErr bool
	}{{cryptotls.VersionTLS11, true}, {cryptotls.VersionTLS12, false}, {cryptotls.VersionTLS13, false}} {
		_, err := serverLeaf(t, cfg, tt.max)
		if (err != nil) != tt.wantErr {
			t.Errorf("client max version %x: error %v, want error %v", tt.max, err, tt.wantErr)
		}
	}
}
