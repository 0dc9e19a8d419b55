package dkim

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/filter"
)

// testRSA is one 2048-bit key shared by the tests (generating one takes
// a while under the race detector).
var testRSA = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

var testEd = sync.OnceValue(func() ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
})

// keyRecord is the DNS TXT record publishing s's public key.
func keyRecord(t testing.TB, s crypto.Signer) string {
	t.Helper()
	switch k := s.Public().(type) {
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der)
	case ed25519.PublicKey:
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(k)
	}
	t.Fatalf("key type %T", s)
	return ""
}

// dnsMode is how the test DNS server answers.
type dnsMode int

const (
	dnsAnswer   dnsMode = iota // the records, NXDOMAIN for other names
	dnsSilent                  // never answers: every lookup times out
	dnsServFail                // SERVFAIL to everything
)

// startDNS serves records (lower-case name without the final dot → TXT
// text) on a loopback UDP port with miekg/dns and returns a resolver that
// asks only it.
func startDNS(t testing.TB, records map[string]string, mode dnsMode) *net.Resolver {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		if mode == dnsSilent || len(r.Question) != 1 {
			return
		}
		m := new(dns.Msg)
		m.SetReply(r)
		q := r.Question[0]
		txt, ok := records[strings.ToLower(strings.TrimSuffix(q.Name, "."))]
		switch {
		case mode == dnsServFail:
			m.Rcode = dns.RcodeServerFailure
		case !ok:
			m.Rcode = dns.RcodeNameError
		case q.Qtype == dns.TypeTXT:
			m.Answer = append(m.Answer, &dns.TXT{
				Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60},
				Txt: split255(txt),
			})
		}
		w.WriteMsg(m)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() { srv.Shutdown() })
	addr := pc.LocalAddr().String()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", addr)
	}}
}

// split255 cuts a TXT text into character-strings of at most 255 bytes.
func split255(s string) []string {
	var out []string
	for len(s) > 255 {
		out = append(out, s[:255])
		s = s[255:]
	}
	return append(out, s)
}

// msgParts splits a message into header fields (values verbatim after
// the colon, folding kept) and body.
func msgParts(t testing.TB, msg string) ([]filter.HeaderField, string) {
	t.Helper()
	head, body, ok := strings.Cut(msg, "\r\n\r\n")
	if !ok {
		t.Fatalf("message without an empty line: %q", msg)
	}
	var fields []filter.HeaderField
	for _, line := range strings.SplitAfter(head+"\r\n", "\r\n") {
		if line == "" {
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			fields[len(fields)-1].Value += "\r\n" + strings.TrimSuffix(line, "\r\n")
			continue
		}
		name, value, ok := strings.Cut(strings.TrimSuffix(line, "\r\n"), ":")
		if !ok {
			t.Fatalf("bad header line %q", line)
		}
		fields = append(fields, filter.HeaderField{Name: name, Value: value})
	}
	return fields, body
}

// render writes fields and body back as a message.
func render(fields []filter.HeaderField, body string) string {
	var b strings.Builder
	for _, f := range fields {
		b.WriteString(f.Name + ":" + f.Value + "\r\n")
	}
	return b.String() + "\r\n" + body
}

// outcome is what one message through a session came to.
type outcome struct {
	verdict filter.Verdict
	edits   []filter.Edit
	skipped bool   // a body chunk was answered Skip
	result  string // the message after the edits
}

// run passes msg through a new session of f from client (with the
// macros given) in body chunks of chunk bytes.
func run(t testing.TB, f *Filter, client string, macros filter.MacroMap, msg string, chunk int) outcome {
	t.Helper()
	ctx := context.Background()
	if macros == nil {
		macros = filter.MacroMap{}
	}
	s, err := f.NewSession(ctx, macros)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	s.Connect(ctx, &envelope.Conn{ClientAddr: netip.MustParseAddrPort(client)})
	s.Mail(ctx, envelope.Address{Addr: "sender@example.com"})
	fields, body := msgParts(t, msg)
	for _, h := range fields {
		if v := s.Header(ctx, h.Name, h.Value); v != filter.Continue {
			t.Fatalf("Header(%s) = %v", h.Name, v)
		}
	}
	var o outcome
	for rest := body; rest != ""; {
		n := min(chunk, len(rest))
		if v := s.Body(ctx, []byte(rest[:n])); v == filter.Skip {
			o.skipped = true
			break
		}
		rest = rest[n:]
	}
	m := filter.NewModifier(f.Needs().Edits, nil)
	o.verdict = s.EndOfMessage(ctx, m)
	o.edits = m.Edits()
	for _, e := range o.edits {
		fields = filter.ApplyHeaderEdit(fields, e)
	}
	o.result = render(fields, body)
	return o
}

// logBuffer is a logger writing to a buffer, safe for concurrent use.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
}

// testMsg is a message from alice at example.com.
const testMsg = "From: Alice <alice@example.com>\r\n" +
	"To: bob@example.net\r\n" +
	"Subject: DKIM test\r\n" +
	"  folded subject\r\n" +
	"Date: Mon, 2 Jun 2025 10:00:00 +0000\r\n" +
	"Message-ID: <1@example.com>\r\n" +
	"Received: from x by y; Mon, 2 Jun 2025 10:00:00 +0000\r\n" +
	"\r\n" +
	"Hello Bob,\r\n" +
	"\r\n" +
	"  a line with  spaces   \r\n" +
	"bye\r\n"

// timeout for DNS tests: short, so the timeout case is quick.
const testTimeout = 500 * time.Millisecond
