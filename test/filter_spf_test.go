package test

import (
	"bytes"
	"net"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// spfDNS is a DNS server on loopback UDP answering TXT queries from
// records; a name in servfail gets SERVFAIL, any other NXDOMAIN. It stops
// when the test ends.
func spfDNS(t *testing.T, records map[string]string, servfail ...string) string {
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
			name := strings.TrimSuffix(strings.ToLower(q.Name), ".")
			txt, ok := records[name]
			switch {
			case strings.Contains(strings.Join(servfail, " "), name):
				m.Rcode = dns.RcodeServerFailure
			case !ok:
				m.Rcode = dns.RcodeNameError
			case q.Qtype == dns.TypeTXT:
				m.Answer = append(m.Answer, &dns.TXT{Txt: []string{txt},
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

// TestFilterSPF runs the real `sluice serve` with [filters.spf] asking a
// loopback DNS server, and loopback not skipped: a "-all" domain gets
// 550 5.7.23 at MAIL, a DNS failure 451 4.7.24, and a passing domain is
// relayed with the exact Received-SPF field at the top of its header,
// under sluice's Received.
func TestFilterSPF(t *testing.T) {
	bin := svBuildSluice(t)
	sink := svStartSink(t)
	resolver := spfDNS(t, map[string]string{
		"pass.example": "v=spf1 ip4:127.0.0.0/8 -all",
		"fail.example": "v=spf1 -all",
		"soft.example": "v=spf1 ~all",
		"client.test":  "v=spf1 ip4:127.0.0.1 -all",
	}, "broken.example")
	s := svStart(t, bin, svConfig{
		Downstream: sink.Downstream(),
		Extra: `[filters.spf]
skip_networks = []
timeout = "5s"
resolver = "` + resolver + `"
`,
	})
	c := svOpen(t, s.Addr, "127.0.0.1", "client.test", svEHLO(svDefaultSize, svExtTLS))
	c.cmd("MAIL FROM:<mallory@fail.example>",
		"550 5.7.23 SPF validation failed: fail.example does not designate 127.0.0.1 as a permitted sender")
	c.cmd("RCPT TO:<spf-refused@example.net>", "503 5.5.1 Need MAIL command")
	c.cmd("MAIL FROM:<bob@broken.example>",
		"451 4.7.24 SPF validation error: temporary DNS failure for broken.example, try again later")
	c.send("alice@pass.example", []string{"spf-pass@example.net"}, svCRLF("Subject: pass\n\nbody\n"))
	c.send("carol@soft.example", []string{"spf-soft@example.net"}, svCRLF("Subject: soft\n\nbody\n"))
	c.send("", []string{"spf-bounce@example.net"}, svCRLF("Subject: bounce\n\nbody\n"))
	c.quit()

	for _, tt := range []struct{ rcpt, field string }{
		{"spf-pass@example.net", "Received-SPF: pass (sluice.test: domain of alice@pass.example designates\r\n" +
			"\t127.0.0.1 as permitted sender) client-ip=127.0.0.1;\r\n" +
			"\tenvelope-from=\"alice@pass.example\"; helo=client.test;\r\n" +
			"\treceiver=sluice.test; identity=mailfrom\r\nSubject: pass\r\n\r\nbody\r\n"},
		{"spf-soft@example.net", "Received-SPF: softfail (sluice.test: domain of transitioning\r\n" +
			"\tcarol@soft.example does not designate 127.0.0.1 as permitted sender)\r\n" +
			"\tclient-ip=127.0.0.1; envelope-from=\"carol@soft.example\";\r\n" +
			"\thelo=client.test; receiver=sluice.test; identity=mailfrom\r\nSubject: soft\r\n\r\nbody\r\n"},
		{"spf-bounce@example.net", "Received-SPF: pass (sluice.test: domain of postmaster@client.test designates\r\n" +
			"\t127.0.0.1 as permitted sender) client-ip=127.0.0.1; envelope-from=\"\";\r\n" +
			"\thelo=client.test; receiver=sluice.test; identity=helo\r\nSubject: bounce\r\n\r\nbody\r\n"},
	} {
		m := sink.waitOne(t, tt.rcpt)
		if !bytes.HasPrefix(m.Data, []byte("Received: ")) {
			t.Errorf("%s: delivered content does not start with sluice's Received:\n%s", tt.rcpt, m.Data)
		}
		i := bytes.Index(m.Data, []byte("\r\nReceived-SPF: "))
		if i < 0 || string(m.Data[i+2:]) != tt.field {
			t.Errorf("%s: delivered content\n%q\nwant it to end with\n%q", tt.rcpt, m.Data, tt.field)
		}
	}
	if got := sink.to("spf-refused@example.net"); len(got) != 0 {
		t.Errorf("a refused sender's message was relayed: %v", got)
	}
	s.stop(t)
}
