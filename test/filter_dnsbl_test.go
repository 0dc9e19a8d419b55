package test

import (
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// dnsblListed is the reply to a client bl.test lists, the filter's
// default.
const dnsblListed = "554 5.7.1 Service unavailable; client [127.0.0.2] blocked using bl.test"

// dnsblServer serves the test blocklists on a loopback UDP port and
// returns its address: bl.test lists 127.0.0.2 (answer 127.0.0.2) and
// nothing else; every query of fail.test fails with SERVFAIL.
func dnsblServer(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		m.Authoritative, m.RecursionAvailable = true, true
		q := req.Question[0]
		name := strings.ToLower(q.Name)
		switch {
		case strings.HasSuffix(name, ".fail.test."):
			m.Rcode = dns.RcodeServerFailure
		case name == "2.0.0.127.bl.test." && q.Qtype == dns.TypeA:
			m.Answer = []dns.RR{&dns.A{
				Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
				A:   net.IPv4(127, 0, 0, 2).To4(),
			}}
		case name != "2.0.0.127.bl.test.":
			m.Rcode = dns.RcodeNameError
		}
		_ = w.WriteMsg(m)
	})
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, Handler: h, NotifyStartedFunc: func() { close(started) }}
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown() })
	return pc.LocalAddr().String()
}

// TestFilterDNSBL runs `sluice serve` with [filters.dnsbl] asking a DNS
// server on loopback, loopback not skipped: 127.0.0.2 is listed, 127.0.0.1
// is not. At connect a listed client gets the 554 reply as its greeting,
// then 503 to all but QUIT; with reject_at = "rcpt" it is refused at
// each RCPT; with action "tag" its message is relayed with X-DNSBL last
// in the header; a failed lookup with on_dns_error = "tempfail" is a 421
// and a close.
func TestFilterDNSBL(t *testing.T) {
	bin := svBuildSluice(t)
	resolver := dnsblServer(t)
	sink := svStartSink(t)
	start := func(t *testing.T, zone, more string) *svSluice {
		return svStart(t, bin, svConfig{
			Downstream: sink.Downstream(),
			Extra: fmt.Sprintf("[filters.dnsbl]\nzones = [%q]\nskip_networks = []\nresolver = %q\ntimeout = \"10s\"\n%s",
				zone, resolver, more),
		})
	}
	ehlo := svEHLO(svDefaultSize, svExtTLS)
	t.Run("connect", func(t *testing.T) {
		t.Parallel()
		s := start(t, "bl.test", "")
		c := svDial(t, s.Addr, svUntrusted)
		c.expect(dnsblListed)
		c.cmd("EHLO listed.test", "503 5.5.1 Bad sequence of commands")
		c.cmd("MAIL FROM:<a@example.org>", "503 5.5.1 Bad sequence of commands")
		c.quit()
		c = svOpen(t, s.Addr, "127.0.0.1", "clean.test", ehlo)
		c.quit()
		if !strings.Contains(s.log(), "smtpd: rejected") {
			t.Error("no rejected line in the log")
		}
		s.stop(t)
	})
	t.Run("rcpt", func(t *testing.T) {
		t.Parallel()
		s := start(t, "bl.test", "reject_at = \"rcpt\"\nreply = \"550 5.7.1 %a is listed in %z (%r)\"\n")
		c := svOpen(t, s.Addr, svUntrusted, "listed.test", ehlo)
		c.cmd("MAIL FROM:<a@example.org>", "250 2.1.0 Ok")
		c.cmd("RCPT TO:<b@example.com>", "550 5.7.1 127.0.0.2 is listed in bl.test (127.0.0.2)")
		c.cmd("RCPT TO:<c@example.com>", "550 5.7.1 127.0.0.2 is listed in bl.test (127.0.0.2)")
		c.cmd("DATA", "554 5.5.1 No valid recipients")
		c.quit()
		s.stop(t)
	})
	t.Run("tag", func(t *testing.T) {
		t.Parallel()
		s := start(t, "bl.test", "action = \"tag\"\n")
		c := svOpen(t, s.Addr, svUntrusted, "listed.test", ehlo)
		c.send("a@example.org", []string{"tagged@example.com"}, svCRLF("Subject: dnsbl\n\nhello\n"))
		c.quit()
		c = svOpen(t, s.Addr, "127.0.0.1", "clean.test", ehlo)
		c.send("a@example.org", []string{"clean@example.com"}, svCRLF("Subject: dnsbl\n\nhello\n"))
		c.quit()
		head, _, _ := strings.Cut(string(sink.waitOne(t, "tagged@example.com").Data), "\r\n\r\n")
		if !strings.HasSuffix(head, "\r\nSubject: dnsbl\r\nX-DNSBL: bl.test") {
			t.Errorf("header of the listed client's message:\n%s\nwant it to end with Subject: dnsbl, X-DNSBL: bl.test", head)
		}
		if head, _, _ := strings.Cut(string(sink.waitOne(t, "clean@example.com").Data), "\r\n\r\n"); strings.Contains(head, "X-DNSBL") {
			t.Errorf("the clean client's message is tagged:\n%s", head)
		}
		s.stop(t)
	})
	t.Run("dns_error_tempfail", func(t *testing.T) {
		t.Parallel()
		s := start(t, "fail.test", "on_dns_error = \"tempfail\"\n")
		c := svDial(t, s.Addr, svUntrusted)
		c.expect("421 4.4.3 Client [127.0.0.2] blocklist lookup failed, try again later")
		c.closed()
		s.stop(t)
	})
}
