package dmarc_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/miekg/dns"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/filter"
	fdkim "github.com/sluice-mta/sluice/filter/dkim"
	"github.com/sluice-mta/sluice/filter/dmarc"
	"github.com/sluice-mta/sluice/filter/spf"
)

// chainDNS serves TXT records on loopback and returns a resolver asking
// only it; other names get NXDOMAIN.
func chainDNS(t *testing.T, records map[string]string) *net.Resolver {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		q := req.Question[0]
		txt, ok := records[strings.TrimSuffix(strings.ToLower(q.Name), ".")]
		switch {
		case !ok:
			m.Rcode = dns.RcodeNameError
		case q.Qtype == dns.TypeTXT:
			m.Answer = append(m.Answer, &dns.TXT{Txt: []string{txt},
				Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60}})
		}
		_ = w.WriteMsg(m)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown() })
	addr := pc.LocalAddr().String()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
}

// TestChain runs filter/spf, filter/dkim and dmarc in a filter.Chain, as
// sluice serve does: dmarc, after two editors, sees their fields at end
// of message and writes its own on top.
func TestChain(t *testing.T) {
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	res := chainDNS(t, map[string]string{
		"s1._domainkey.mail.example.com": "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub),
		"s1._domainkey.other.example":    "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub),
		"_dmarc.example.com":             "v=DMARC1; p=reject",
		"bounces.example.net":            "v=spf1 -all",
	})
	sp, err := spf.New(spf.Options{FailAction: "tag", Receiver: "mx.test", SkipNetworks: []netip.Prefix{}, Resolver: res})
	if err != nil {
		t.Fatal(err)
	}
	dk, err := fdkim.New(fdkim.Options{AuthservID: "mx.test", SignNetworks: []netip.Prefix{}, Resolver: res,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	dm, err := dmarc.New(dmarc.Options{AuthservID: "mx.test", Enforce: true, Resolver: res})
	if err != nil {
		t.Fatal(err)
	}
	chain := filter.NewChain(sp, dk, dm)
	const spfField = "Received-SPF: fail (mx.test: domain of a@bounces.example.net does not\r\n" +
		"\tdesignate 192.0.2.1 as permitted sender) client-ip=192.0.2.1;\r\n" +
		"\tenvelope-from=\"a@bounces.example.net\"; helo=client.test;\r\n" +
		"\treceiver=mx.test; identity=mailfrom"
	for _, tt := range []struct {
		name, signer string
		forged       bool // the client added a field claiming mx.test's dkim=pass
		verdict      string
		dmarcField   string
	}{
		{"aligned signature", "mail.example.com", false, "continue",
			"Authentication-Results: mx.test;\r\n\tdmarc=pass (p=reject dis=none) header.from=example.com"},
		{"unaligned signature", "other.example", false, "reject 550 5.7.1 Rejected by the DMARC policy of example.com", ""},
		{"forged field deleted by dkim", "other.example", true, "reject 550 5.7.1 Rejected by the DMARC policy of example.com", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			msg := signed(t, tt.signer, key)
			if tt.forged {
				msg = append([]byte("Authentication-Results: mx.test; dkim=pass header.d=example.com\r\n"), msg...)
			}
			v, edits := runChain(t, chain, msg)
			if v.String() != tt.verdict {
				t.Fatalf("verdict %q, want %q (edits %q)", v, tt.verdict, edits)
			}
			if tt.dmarcField == "" {
				return
			}
			want := []string{
				"insheader 0 Received-SPF:  " + strings.TrimPrefix(spfField, "Received-SPF: "),
				"insheader 0 Authentication-Results:  mx.test;\r\n\tdkim=pass header.d=" + tt.signer,
				"insheader 0 " + strings.Replace(tt.dmarcField, ": ", ":  ", 1),
			}
			if len(edits) != 3 || edits[0] != want[0] || !strings.HasPrefix(edits[1], want[1]) || edits[2] != want[2] {
				t.Errorf("edits\n%q\nwant\n%q", edits, want)
			}
		})
	}
}

// signed is a message From example.com signed by domain d.
func signed(t *testing.T, d string, key ed25519.PrivateKey) []byte {
	t.Helper()
	raw := "From: Alice <alice@example.com>\r\nTo: bob@example.org\r\nSubject: hi\r\n\r\nHello.\r\n"
	var b bytes.Buffer
	if err := dkim.Sign(&b, strings.NewReader(raw), &dkim.SignOptions{Domain: d, Selector: "s1", Signer: key}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// runChain passes msg (header fields with their leading space, as the
// chain wants them for dkim) from 192.0.2.1 with sender
// a@bounces.example.net through a session of chain.
func runChain(t *testing.T, chain *filter.Chain, msg []byte) (filter.Verdict, []string) {
	ctx := context.Background()
	s, err := chain.NewSession(ctx, filter.MacroMap{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	s.Connect(ctx, &envelope.Conn{ClientAddr: netip.MustParseAddrPort("192.0.2.1:4000"), HELO: "client.test"})
	s.Helo(ctx, "client.test")
	if v := s.Mail(ctx, envelope.Address{Addr: "a@bounces.example.net"}); v.Terminal() {
		t.Fatalf("mail: %v", v)
	}
	s.Rcpt(ctx, envelope.Address{Addr: "bob@example.org"})
	s.Data(ctx)
	head, body, _ := bytes.Cut(msg, []byte("\r\n\r\n"))
	var fields []string // "Name:value", folding kept
	for _, line := range strings.Split(string(head), "\r\n") {
		if strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t") {
			fields[len(fields)-1] += "\r\n" + line
			continue
		}
		fields = append(fields, line)
	}
	for _, f := range fields {
		name, value, _ := strings.Cut(f, ":")
		s.Header(ctx, name, value)
	}
	s.EndOfHeaders(ctx)
	s.Body(ctx, body)
	m := filter.NewModifier(chain.Needs().Edits, nil)
	v := s.EndOfMessage(ctx, m)
	var edits []string
	for _, e := range m.Edits() {
		edits = append(edits, e.String())
	}
	return v, edits
}
