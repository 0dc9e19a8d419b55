package milterclient_test

// Interop with a real OpenDKIM (Debian package opendkim) in signing mode:
// the test generates a key, writes a configuration, starts opendkim on a
// loopback port, drives a message through the client, and checks that the
// DKIM-Signature header comes back as a header edit and that the message
// with the edit applied verifies with go-msgauth's verifier, the public
// key given directly. Skips when opendkim is not installed.

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/filter"
	"github.com/sluice-mta/sluice/milterclient"
)

// dkimKey is a signing key as OpenDKIM reads it (PEM) and as DNS would
// publish it (the TXT record of selector._domainkey.domain).
type dkimKey struct {
	algorithm string // OpenDKIM's SignatureAlgorithm
	pem       []byte
	txt       string
}

func newDKIMKey(t *testing.T, kind string) dkimKey {
	t.Helper()
	var priv crypto.Signer
	var pub, keyType string
	switch kind {
	case "rsa":
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		priv, pub, keyType = k, base64.StdEncoding.EncodeToString(der), "rsa"
	case "ed25519": // RFC 8463: the TXT record holds the raw 32-byte key
		p, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		priv, pub, keyType = k, base64.StdEncoding.EncodeToString(p), "ed25519"
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return dkimKey{
		algorithm: keyType + "-sha256",
		pem:       pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
		txt:       "v=DKIM1; k=" + keyType + "; p=" + pub,
	}
}

// startOpenDKIM runs opendkim -f in signing mode for example.com with
// selector "test" and returns its milter address.
func startOpenDKIM(t *testing.T, bin string, key dkimKey) string {
	t.Helper()
	// t.TempDir is private (0700) but lies under the world-writable
	// temporary directory, which OpenDKIM refuses for key files unless
	// RequireSafeKeys is off. The key is a throwaway.
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "test.private")
	if err := os.WriteFile(keyFile, key.pem, 0o600); err != nil {
		t.Fatal(err)
	}
	port := freePort(t, "tcp4", "127.0.0.1")
	conf := strings.Join([]string{
		"Mode s",
		"Domain example.com",
		"Selector test",
		"KeyFile " + keyFile,
		"SignatureAlgorithm " + key.algorithm,
		fmt.Sprintf("Socket inet:%d@127.0.0.1", port),
		"Canonicalization relaxed/simple",
		"InternalHosts 127.0.0.1",
		"Syslog no",
		"RequireSafeKeys no",
		"",
	}, "\n")
	confFile := filepath.Join(dir, "opendkim.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startProc(t, bin, "-f", "-x", confFile)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	p.waitFor(t, "listening socket", func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return fmt.Sprintf("inet:%d@127.0.0.1", port)
}

// dkimMessage is signed by OpenDKIM: an internal client (127.0.0.1, in
// InternalHosts) sending as example.com.
func dkimMessage() message {
	return message{
		conn: &envelope.Conn{ClientName: "localhost", ClientAddr: netip.MustParseAddrPort("127.0.0.1:50000")},
		helo: "localhost",
		from: envelope.Address{Addr: "alice@example.com"},
		rcpts: []envelope.Address{
			{Addr: "bob@example.org"},
		},
		headers: [][2]string{
			{"From", " Alice <alice@example.com>"},
			{"To", " Bob <bob@example.org>"},
			{"Subject", " signed by\r\n OpenDKIM"},
			{"Date", " Tue, 1 Apr 2025 10:00:00 +0000"},
			{"Message-ID", " <dkim-test@example.com>"},
		},
		body: []byte("Hello Bob,\r\n\r\nthis message is signed.  Two spaces, trailing space \r\n\r\n\r\n"),
	}
}

// simpleBodyHash is the bh= tag of a CRLF body under "simple"
// canonicalization (RFC 6376 §3.4.3: trailing empty lines removed, an
// empty body becomes one CRLF) with SHA-256.
func simpleBodyHash(body []byte) string {
	b := append(bytes.Clone(bytes.TrimRight(body, "\r\n")), "\r\n"...)
	sum := sha256.Sum256(b)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// render writes the message with the header edits applied.
func render(m message, edits []filter.Edit) []byte {
	fields := make([]filter.HeaderField, 0, len(m.headers)+len(edits))
	for _, h := range m.headers {
		fields = append(fields, filter.HeaderField{Name: h[0], Value: h[1]})
	}
	for _, e := range edits {
		fields = filter.ApplyHeaderEdit(fields, e)
	}
	var b bytes.Buffer
	for _, f := range fields {
		b.WriteString(f.Name + ":" + f.Value + "\r\n")
	}
	b.WriteString("\r\n")
	b.Write(m.body)
	return b.Bytes()
}

// dkimTag returns the value of tag name in a DKIM-Signature value.
func dkimTag(sig, name string) string {
	for _, part := range strings.Split(sig, ";") {
		k, v, ok := strings.Cut(part, "=")
		if ok && strings.TrimSpace(k) == name {
			return strings.Join(strings.Fields(v), "")
		}
	}
	return ""
}

func TestOpenDKIM(t *testing.T) {
	bin, err := exec.LookPath("opendkim")
	if err != nil {
		for _, dir := range []string{"/usr/sbin", "/sbin"} { // not on every user's PATH
			if _, serr := os.Stat(filepath.Join(dir, "opendkim")); serr == nil {
				bin, err = filepath.Join(dir, "opendkim"), nil
			}
		}
	}
	if err != nil {
		t.Skip("opendkim is not installed (apt-get install opendkim)")
	}
	for _, kind := range []string{"rsa", "ed25519"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			key := newDKIMKey(t, kind)
			addr := startOpenDKIM(t, bin, key)
			testOpenDKIMSigns(t, addr, key)
		})
	}
}

func testOpenDKIMSigns(t *testing.T, addr string, key dkimKey) {
	c := newClient(t, milterclient.Options{Address: addr, Name: "opendkim"})
	e := newEngine(t, c)
	defer e.close()
	m := dkimMessage()
	if o := e.connect(m); o.verdict != filter.Continue {
		t.Fatalf("connect: %v at %v (%v)", o.verdict, o.stage, e.sess.(*milterclient.Session).Err())
	}
	for i := range 2 { // two messages on one milter connection
		o := e.transaction(m)
		// OpenDKIM accepts the message once it has signed it.
		if o.stage != filter.StageEndOfMessage || o.verdict != filter.Accept {
			t.Fatalf("message %d: %v at %v (%v)", i+1, o.verdict, o.stage, e.sess.(*milterclient.Session).Err())
		}
		if len(o.edits) != 1 || !o.edits[0].Kind.IsHeaderEdit() || o.edits[0].Kind == filter.ChangeHeader ||
			o.edits[0].Name != "DKIM-Signature" {
			t.Fatalf("message %d: edits %q, want one added or inserted DKIM-Signature header", i+1, editStrings(o.edits))
		}
		sig := o.edits[0].Value
		for tag, want := range map[string]string{
			"v": "1", "a": key.algorithm, "c": "relaxed/simple", "d": "example.com", "s": "test",
			"bh": simpleBodyHash(m.body),
		} {
			if got := dkimTag(sig, tag); got != want {
				t.Errorf("message %d: tag %s=%q, want %q in %q", i+1, tag, got, want, sig)
			}
		}
		signed := render(m, o.edits)
		verifyDKIM(t, signed, key, nil)

		tampered := bytes.Replace(signed, []byte("Hello Bob"), []byte("Hello Eve"), 1)
		verifyDKIM(t, tampered, key, errors.New("body hash"))
	}

	// The client address reaches OpenDKIM: mail from outside
	// InternalHosts is not signed.
	ext := newEngine(t, c)
	defer ext.close()
	m.conn = sampleConn() // 192.0.2.7
	ext.connect(m)
	if o := ext.transaction(m); o.verdict.Terminal() || len(o.edits) != 0 {
		t.Errorf("external client: %v at %v with edits %q, want no signature", o.verdict, o.stage, editStrings(o.edits))
	}
}

// verifyDKIM verifies msg with the key supplied directly, and wants one
// signature from example.com that passes (wantErr nil) or fails with an
// error mentioning wantErr.
func verifyDKIM(t *testing.T, msg []byte, key dkimKey, wantErr error) {
	t.Helper()
	var lookups []string
	vs, err := dkim.VerifyWithOptions(bytes.NewReader(msg), &dkim.VerifyOptions{
		LookupTXT: func(domain string) ([]string, error) {
			lookups = append(lookups, domain)
			if domain != "test._domainkey.example.com" {
				return nil, fmt.Errorf("no TXT record for %s", domain)
			}
			return []string{key.txt}, nil
		},
	})
	if err != nil {
		t.Fatalf("verifying:\n%s\n%v", msg, err)
	}
	if len(vs) != 1 || vs[0].Domain != "example.com" {
		t.Fatalf("verifications %+v, want one for example.com", vs)
	}
	switch v := vs[0]; {
	case wantErr == nil && v.Err != nil:
		t.Errorf("signature does not verify: %v (lookups %q)\n%s", v.Err, lookups, msg)
	case wantErr != nil && (v.Err == nil || !strings.Contains(v.Err.Error(), wantErr.Error())):
		t.Errorf("tampered message: verification error %v, want one about %q", v.Err, wantErr)
	case wantErr == nil && !hasKey(v.HeaderKeys, "from"):
		t.Errorf("signed header fields %q do not include From", v.HeaderKeys)
	}
}

func hasKey(keys []string, k string) bool {
	for _, h := range keys {
		if strings.EqualFold(h, k) {
			return true
		}
	}
	return false
}
