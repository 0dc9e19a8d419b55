package test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/miekg/dns"
)

// dkimDNS serves TXT records (cut in 255-byte strings) on loopback UDP
// and returns its address; other names get NXDOMAIN.
func dkimDNS(t *testing.T, records map[string]string) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		if len(req.Question) == 1 {
			q := req.Question[0]
			txt, ok := records[strings.TrimSuffix(strings.ToLower(q.Name), ".")]
			switch {
			case !ok:
				m.Rcode = dns.RcodeNameError
			case q.Qtype == dns.TypeTXT:
				var parts []string
				for ; len(txt) > 255; txt = txt[255:] {
					parts = append(parts, txt[:255])
				}
				m.Answer = append(m.Answer, &dns.TXT{Txt: append(parts, txt),
					Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60}})
			}
		}
		_ = w.WriteMsg(m)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown() })
	return pc.LocalAddr().String()
}

// TestFilterDKIM runs the real `sluice serve` with [filters.dkim] and
// [filters.headers]: a message from 127.0.0.1 whose From is in the
// signing domain reaches the sink with a DKIM-Signature under sluice's
// Received, covering the headers filter's field, that go-msgauth
// verifies against the key the loopback DNS server publishes; a message
// from another domain is verified instead and gets dkim=none.
func TestFilterDKIM(t *testing.T) {
	bin := svBuildSluice(t)
	sink := svStartSink(t)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "e2e.pem")
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	pub, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	resolver := dkimDNS(t, map[string]string{
		"e2e._domainkey.example.com": "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(pub),
	})
	s := svStart(t, bin, svConfig{
		Downstream: sink.Downstream(),
		Extra: `[filters.headers]
add = ["X-Filtered-By: sluice"]
[filters.dkim]
timeout = "5s"
resolver = "` + resolver + `"
sign_headers = ["From", "To", "Subject", "X-Filtered-By"]
[[filters.dkim.keys]]
domain = "example.com"
selector = "e2e"
key_file = "` + keyFile + `"
`,
	})
	c := svOpen(t, s.Addr, "127.0.0.1", "client.test", svEHLO(svDefaultSize, svExtTLS))
	c.send("alice@example.com", []string{"dkim-signed@example.net"},
		svCRLF("From: Alice <alice@example.com>\nTo: bob@example.net\nSubject: signed\n\nHello\n\n"))
	c.send("carol@other.example", []string{"dkim-verified@example.net"},
		svCRLF("From: carol@other.example\nSubject: unsigned\n\nHi\n"))
	c.quit()

	m := sink.waitOne(t, "dkim-signed@example.net")
	_, rest, _ := bytes.Cut(m.Data, []byte("\r\nDKIM-Signature: "))
	if !bytes.HasPrefix(m.Data, []byte("Received: ")) || rest == nil ||
		bytes.Contains(m.Data[:bytes.Index(m.Data, []byte("\r\nDKIM-Signature: "))], []byte("\r\n\r\n")) {
		t.Fatalf("want Received then DKIM-Signature at the top:\n%s", m.Data)
	}
	if !bytes.HasSuffix(m.Data, []byte("\r\nX-Filtered-By: sluice\r\n\r\nHello\r\n\r\n")) ||
		!bytes.Contains(m.Data, []byte("h=From:From:To:Subject:X-Filtered-By;")) {
		t.Errorf("delivered content:\n%s", m.Data)
	}
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", resolver)
	}}
	verifs, err := dkim.VerifyWithOptions(bytes.NewReader(m.Data), &dkim.VerifyOptions{
		LookupTXT: func(name string) ([]string, error) { return r.LookupTXT(context.Background(), name) },
	})
	if err != nil || len(verifs) != 1 || verifs[0].Err != nil || verifs[0].Domain != "example.com" {
		t.Errorf("go-msgauth: %v %+v", err, verifs)
	}

	m = sink.waitOne(t, "dkim-verified@example.net")
	want := "\r\nAuthentication-Results: sluice.test;\r\n\tdkim=none\r\nFrom: carol@other.example\r\n" +
		"Subject: unsigned\r\nX-Filtered-By: sluice\r\n\r\nHi\r\n"
	if i := bytes.Index(m.Data, []byte("\r\nAuthentication-Results: ")); i < 0 || string(m.Data[i:]) != want ||
		!bytes.HasPrefix(m.Data, []byte("Received: ")) {
		t.Errorf("delivered content\n%q\nwant it to end with\n%q", m.Data, want)
	}
	s.stop(t)
}
