package smtpclient

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/tls"
)

// onWire is content as the client sends it, without the final dot.
func onWire(t *testing.T, content string) string {
	return strings.TrimSuffix(string(stuff(t, []byte(content), 0)), ".\r\n")
}

func TestWirePipelinedTimeouts(t *testing.T) {
	const short = 300 * time.Millisecond
	tests := []struct {
		name string
		verb string
		set  func(*Timeouts)
		text string
	}{
		{"MAIL", "MAIL", func(t *Timeouts) { t.Mail = short }, "timed out while sending MAIL FROM"},
		{"RCPT", "RCPT", func(t *Timeouts) { t.Rcpt = short }, "timed out while sending RCPT TO"},
		{"DATA", "DATA", func(t *Timeouts) { t.DataInit = short }, "timed out while sending DATA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startScript(t, &scriptServer{ext: []string{"PIPELINING"}, reply: func(line string) string {
				if strings.HasPrefix(line, tt.verb) {
					return hang
				}
				return ""
			}})
			to := Timeouts{Connect: time.Second, Greeting: 20 * time.Second, Command: 20 * time.Second, Mail: 20 * time.Second,
				Rcpt: 20 * time.Second, DataInit: 20 * time.Second, DataBlock: 20 * time.Second, DataFinal: 20 * time.Second}
			tt.set(&to)
			c := newClient(t, Options{Address: "smtp://" + srv.Addr, TLS: tls.PolicyNone, Timeouts: to})
			start := time.Now()
			r := deliver(t, c, message("a@example.org", []string{"b@example.net"}, testContent))[0]
			wantResult(t, r, envelope.Deferred, 0, "4.4.2", tt.text)
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("took %v", d)
			}
		})
	}
}

// TestWireStartTLSInjection: bytes sent along with the 220 to STARTTLS
// were not protected by TLS; the client must not act on them.
func TestWireStartTLSInjection(t *testing.T) {
	cert, err := tls.SelfSigned("script.test")
	if err != nil {
		t.Fatal(err)
	}
	srv := startScript(t, &scriptServer{cert: &cert, junk: "\r\n250 2.0.0 injected"})
	c := newClient(t, Options{Address: "smtp://" + srv.Addr, TLS: tls.PolicyOpportunistic})
	r := deliver(t, c, message("a@example.org", []string{"b@example.net"}, testContent))[0]
	wantResult(t, r, envelope.Deferred, 0, "4.7.0", "sent data after its reply to STARTTLS")
}

func TestWireXClient(t *testing.T) {
	srv := startScript(t, &scriptServer{ext: []string{"PIPELINING", "XCLIENT NAME ADDR PORT PROTO HELO LOGIN", "XFORWARD NAME ADDR"}})
	c := newClient(t, Options{Address: "smtp://" + srv.Addr, TLS: tls.PolicyNone, XClient: true, XForward: true})
	alice := origClient()
	alice.AuthLogin = "alice"
	bob := envelope.Conn{ClientAddr: netip.MustParseAddrPort("[2001:db8::5]:2525"), ClientName: "[2001:db8::5]", HELO: "bad helo", Proto: "SMTP"}
	send := func(client envelope.Conn) {
		m := message("a@example.org", []string{"b@example.net"}, testContent)
		m.Client = client
		wantResult(t, deliver(t, c, m)[0], envelope.Delivered, 250, "2.0.0", "queued")
	}
	send(alice)
	send(alice)           // same client: no new XCLIENT
	send(bob)             // another client: XCLIENT again on the same connection
	send(envelope.Conn{}) // no client: a fresh connection
	want0 := []string{
		"EHLO sluice.test",
		"XCLIENT NAME=client.example.net ADDR=192.0.2.77 PORT=41000 PROTO=ESMTP HELO=helo.example.net LOGIN=alice",
		"EHLO helo.example.net",
		"MAIL FROM:<a@example.org>", "RCPT TO:<b@example.net>", "DATA", "DATA:" + onWire(t, testContent),
		"RSET",
		"MAIL FROM:<a@example.org>", "RCPT TO:<b@example.net>", "DATA", "DATA:" + onWire(t, testContent),
		"RSET",
		"XCLIENT NAME=[UNAVAILABLE] ADDR=IPV6:2001:db8::5 PORT=2525 PROTO=SMTP HELO=bad+20helo LOGIN=[UNAVAILABLE]",
		"EHLO sluice.test", // "bad helo" cannot stand in EHLO
		"MAIL FROM:<a@example.org>", "RCPT TO:<b@example.net>", "DATA", "DATA:" + onWire(t, testContent),
		"RSET",
		"QUIT",
	}
	want1 := []string{"EHLO sluice.test", "MAIL FROM:<a@example.org>", "RCPT TO:<b@example.net>", "DATA", "DATA:" + onWire(t, testContent)}
	_ = c.Close()
	waitFor(t, func() bool { return len(srv.commands(1)) >= len(want1)+1 })
	if got := srv.commands(0); strings.Join(got, "\n") != strings.Join(want0, "\n") {
		t.Errorf("connection 1:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want0, "\n"))
	}
	if got := srv.commands(1); strings.Join(got, "\n") != strings.Join(append(want1, "QUIT"), "\n") {
		t.Errorf("connection 2:\n%s", strings.Join(got, "\n"))
	}
	if n := srv.connCount(); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
}

// TestWireXClientRefused: a refused XCLIENT is logged and the message goes
// without it (as when XCLIENT is not offered), with XFORWARD not tried.
func TestWireXClientRefused(t *testing.T) {
	srv := startScript(t, &scriptServer{ext: []string{"XCLIENT NAME HELO"}, reply: func(line string) string {
		if strings.HasPrefix(line, "XCLIENT") {
			return "550 5.7.0 insufficient authorization"
		}
		return ""
	}})
	c := newClient(t, Options{Address: "smtp://" + srv.Addr, TLS: tls.PolicyNone, XClient: true})
	m := message("a@example.org", []string{"b@example.net"}, testContent)
	m.Client = origClient()
	wantResult(t, deliver(t, c, m)[0], envelope.Delivered, 250, "2.0.0", "queued")
	want := []string{"EHLO sluice.test", "XCLIENT NAME=client.example.net HELO=helo.example.net",
		"MAIL FROM:<a@example.org>", "RCPT TO:<b@example.net>", "DATA", "DATA:" + onWire(t, testContent)}
	if got := srv.commands(0); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("commands:\n%s", strings.Join(got, "\n"))
	}
}

// TestWireXForward: XFORWARD goes in the pipelined group before MAIL,
// split when the line would pass 512 octets, for every transaction.
func TestWireXForward(t *testing.T) {
	srv := startScript(t, &scriptServer{ext: []string{"PIPELINING", "XFORWARD NAME ADDR PORT PROTO HELO IDENT SOURCE"}})
	c := newClient(t, Options{Address: "smtp://" + srv.Addr, TLS: tls.PolicyNone, XForward: true})
	long := strings.Repeat("h", 240) + ".example.net"
	client := origClient()
	client.ClientName, client.HELO = long, long
	m := message("a@example.org", []string{"b@example.net"}, testContent)
	m.Client = client
	wantResult(t, deliver(t, c, m)[0], envelope.Delivered, 250, "2.0.0", "queued")
	want := []string{"EHLO sluice.test",
		"XFORWARD NAME=" + long + " ADDR=192.0.2.77 PORT=41000 PROTO=ESMTP",
		"XFORWARD HELO=" + long + " IDENT=Q1 SOURCE=REMOTE",
		"MAIL FROM:<a@example.org>", "RCPT TO:<b@example.net>", "DATA", "DATA:" + onWire(t, testContent)}
	if got := srv.commands(0); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("commands:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestWireBadEnvelope: envelope data that would break a command line is
// refused before anything is sent.
func TestWireBadEnvelope(t *testing.T) {
	srv := startScript(t, &scriptServer{})
	c := newClient(t, Options{Address: "smtp://" + srv.Addr, TLS: tls.PolicyNone})
	tests := []struct {
		name     string
		edit     func(*envelope.Delivery)
		enhanced string
	}{
		{"CRLF in an address", func(m *envelope.Delivery) { m.To[0].Addr = "b@x\r\nRSET" }, "5.1.3"},
		{"bracket in an address", func(m *envelope.Delivery) { m.From.Addr = "a>@x" }, "5.1.3"},
		{"space in a value", func(m *envelope.Delivery) { m.To[0].Params = []envelope.Param{{Key: "NOTIFY", Value: "a b"}} }, "5.5.4"},
		{"bad keyword", func(m *envelope.Delivery) { m.From.Params = []envelope.Param{{Key: "-X"}} }, "5.5.4"},
	}
	for _, tt := range tests {
		m := message("a@example.org", []string{"b@example.net"}, testContent)
		tt.edit(m)
		wantResult(t, deliver(t, c, m)[0], envelope.Failed, 0, tt.enhanced, "invalid")
	}
	for _, l := range srv.commands(0) {
		if strings.HasPrefix(l, "MAIL") || strings.HasPrefix(l, "RCPT") {
			t.Errorf("sent %q", l)
		}
	}
}

// TestWireSessionRefusals: refusals before MAIL never fail the message.
func TestWireSessionRefusals(t *testing.T) {
	cert, err := tls.SelfSigned("script.test")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		scheme   string
		policy   tls.Policy
		verb     string
		reply    string
		status   envelope.Status
		code     int
		enhanced string
		text     string
	}{
		{"LHLO 5xx", "lmtp", tls.PolicyNone, "LHLO", "550 5.5.1 go away", envelope.Deferred, 550, "5.5.1", "go away (in reply to LHLO)"},
		{"EHLO 421", "smtp", tls.PolicyNone, "EHLO", "421 4.3.2 shutting down", envelope.Deferred, 421, "4.3.2", "shutting down (in reply to EHLO)"},
		{"EHLO and HELO 5xx", "smtp", tls.PolicyNone, "HELO", "550 5.7.1 no", envelope.Deferred, 550, "5.7.1", "no (in reply to HELO)"},
		{"STARTTLS refused, required", "smtp", tls.PolicyRequired, "STARTTLS", "454 4.7.0 TLS not available", envelope.Deferred, 454, "4.7.0", "TLS not available (in reply to STARTTLS)"},
		{"STARTTLS refused, opportunistic", "smtp", tls.PolicyOpportunistic, "STARTTLS", "454 4.7.0 TLS not available", envelope.Delivered, 250, "2.0.0", "queued"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startScript(t, &scriptServer{cert: &cert, reply: func(line string) string {
				switch {
				case strings.HasPrefix(line, tt.verb):
					return tt.reply
				case tt.verb == "HELO" && strings.HasPrefix(line, "EHLO"):
					return "502 5.5.2 no EHLO here"
				}
				return ""
			}})
			c := newClient(t, Options{Address: tt.scheme + "://" + srv.Addr, TLS: tt.policy})
			wantResult(t, deliver(t, c, message("a@example.org", []string{"b@example.net"}, testContent))[0],
				tt.status, tt.code, tt.enhanced, tt.text)
		})
	}
}
