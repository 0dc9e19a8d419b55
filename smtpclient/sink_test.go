package smtpclient

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/test/peer"
	"github.com/sluice-mta/sluice/tls"
)

// The tests in this file use smtp-sink(1) (Debian package postfix) as the
// downstream, through the test/peer harness; they skip without it.

func TestSinkByteExact(t *testing.T) {
	sink := peer.StartSink(t, peer.SinkOptions{})
	c := newClient(t, Options{Address: "smtp://" + sink.Addr, TLS: tls.PolicyNone})
	big := testContent + strings.Repeat(".dotted line of a long message, to cross buffer boundaries\r\n", 20000)
	tests := []struct {
		name    string
		content string
	}{
		{"small", testContent},
		{"1 MiB", big},
	}
	for i, tt := range tests {
		m := message("a@example.org", []string{"b@example.net", "c@example.net"}, tt.content)
		m.From.Params = []envelope.Param{{Key: "BODY", Value: "8BITMIME"}}
		m.To[0].Params = []envelope.Param{{Key: "NOTIFY", Value: "SUCCESS,FAILURE"}, {Key: "ORCPT", Value: "rfc822;b@example.net"}}
		for _, r := range deliver(t, c, m) {
			wantResult(t, r, envelope.Delivered, 250, "2.0.0", "Ok")
			if r.Remote != sink.Addr {
				t.Errorf("%s: Remote %q, want %q", tt.name, r.Remote, sink.Addr)
			}
		}
		msgs := sink.WaitMessages(t, i+1, testTimeout)
		got := msgs[i]
		if string(got.Data) != tt.content {
			t.Errorf("%s: the sink received %d bytes that differ from the %d sent", tt.name, len(got.Data), len(tt.content))
		}
		if got.MailArgs != "<a@example.org> BODY=8BITMIME" || got.Helo != "sluice.test" || got.Proto != "ESMTP" {
			t.Errorf("%s: MAIL %q, HELO %q, proto %q", tt.name, got.MailArgs, got.Helo, got.Proto)
		}
		wantRcpt := []string{"<b@example.net> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b@example.net", "<c@example.net>"}
		if strings.Join(got.RcptArgs, "|") != strings.Join(wantRcpt, "|") {
			t.Errorf("%s: RCPT %q, want %q", tt.name, got.RcptArgs, wantRcpt)
		}
	}
}

func TestSinkPipelining(t *testing.T) {
	sink := peer.StartSink(t, peer.SinkOptions{})
	proxy := startHoldProxy(t, sink.Addr)
	c := newClient(t, Options{Address: "smtp://" + proxy.Addr, TLS: tls.PolicyNone})
	for range 2 { // the second message reuses the connection
		m := message("a@example.org", []string{"b@example.net", "c@example.net", "d@example.net"}, testContent)
		for _, r := range deliver(t, c, m) {
			wantResult(t, r, envelope.Delivered, 250, "2.0.0", "Ok")
		}
	}
	sink.WaitMessages(t, 2, testTimeout)
	stream, groups, stalls, conns := proxy.result()
	if groups != 2 || stalls != 0 || conns != 1 {
		t.Errorf("%d pipelined groups, %d stalls, %d connections; want 2, 0, 1", groups, stalls, conns)
	}
	group := "MAIL FROM:<a@example.org> BODY=8BITMIME\r\nRCPT TO:<b@example.net>\r\nRCPT TO:<c@example.net>\r\nRCPT TO:<d@example.net>\r\nDATA\r\n"
	group = strings.Replace(group, " BODY=8BITMIME", "", 1)
	if strings.Count(stream, group) != 2 || strings.Count(stream, "RSET\r\n") != 1 {
		t.Errorf("client stream:\n%s", stream)
	}
}

// TestSinkReplies drives smtp-sink's failure switches. -r and -f turn
// pipelining off, so these also cover the command-by-command path.
func TestSinkReplies(t *testing.T) {
	tests := []struct {
		name     string
		flags    []string
		status   envelope.Status
		code     int
		enhanced string
		text     string
	}{
		{"4xx to RCPT", []string{"-r", "RCPT"}, envelope.Deferred, 450, "4.3.0", "Error: command failed (in reply to RCPT TO)"},
		{"5xx to RCPT", []string{"-f", "RCPT"}, envelope.Failed, 500, "5.3.0", "Error: command failed (in reply to RCPT TO)"},
		{"4xx to MAIL", []string{"-r", "MAIL"}, envelope.Deferred, 450, "4.3.0", "(in reply to MAIL FROM)"},
		{"5xx to MAIL", []string{"-f", "MAIL"}, envelope.Failed, 500, "5.3.0", "(in reply to MAIL FROM)"},
		{"4xx to DATA", []string{"-r", "DATA"}, envelope.Deferred, 450, "4.3.0", "(in reply to DATA)"},
		{"5xx to DATA", []string{"-f", "DATA"}, envelope.Failed, 500, "5.3.0", "(in reply to DATA)"},
		{"4xx to the final dot", []string{"-r", "."}, envelope.Deferred, 450, "4.3.0", "(in reply to end of data)"},
		{"5xx to the final dot", []string{"-f", "."}, envelope.Failed, 500, "5.3.0", "(in reply to end of data)"},
		{"421 to RCPT", []string{"-Q", "RCPT"}, envelope.Deferred, 421, "4.0.0", "Server closing connection (in reply to RCPT TO)"},
		{"hang up after DATA", []string{"-q", "DATA"}, envelope.Deferred, 0, "4.4.2", "lost connection while sending DATA"},
		{"5xx greeting", []string{"-f", "CONNECT"}, envelope.Deferred, 500, "5.3.0", "refused to talk"},
		{"5xx to EHLO: HELO instead", []string{"-f", "EHLO"}, envelope.Delivered, 250, "2.0.0", "Ok"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sink := peer.StartSink(t, peer.SinkOptions{Flags: tt.flags})
			c := newClient(t, Options{Address: "smtp://" + sink.Addr, TLS: tls.PolicyNone})
			m := message("a@example.org", []string{"b@example.net", "c@example.net"}, testContent)
			for _, r := range deliver(t, c, m) {
				wantResult(t, r, tt.status, tt.code, tt.enhanced, tt.text)
			}
			if tt.status == envelope.Delivered {
				if got := sink.WaitMessages(t, 1, testTimeout)[0]; got.Proto != "SMTP" || string(got.Data) != testContent {
					t.Errorf("proto %q, content %q", got.Proto, got.Data)
				}
			}
		})
	}
}

// TestSinkSlow makes smtp-sink wait before a reply and checks that each
// step's own timeout defers the message, naming the step. smtp-sink's
// delays reorder pipelined replies (it answers the RCPT after a delayed
// MAIL first), so pipelining is off (-p) where that matters; the
// pipelined timeouts are tested with a scripted server (wire_test.go).
func TestSinkSlow(t *testing.T) {
	const short = 400 * time.Millisecond
	tests := []struct {
		name  string
		flags []string
		set   func(*Timeouts)
		text  string
	}{
		{"greeting", []string{"-W", "CONNECT:3"}, func(t *Timeouts) { t.Greeting = short }, "timed out while receiving the initial server greeting"},
		{"EHLO", []string{"-W", "EHLO:3"}, func(t *Timeouts) { t.Command = short }, "timed out while performing the EHLO handshake"},
		{"MAIL", []string{"-p", "-W", "MAIL:3"}, func(t *Timeouts) { t.Mail = short }, "timed out while sending MAIL FROM"},
		{"RCPT", []string{"-p", "-W", "RCPT:3"}, func(t *Timeouts) { t.Rcpt = short }, "timed out while sending RCPT TO"},
		{"DATA", []string{"-p", "-w", "3"}, func(t *Timeouts) { t.DataInit = short }, "timed out while sending DATA"},
		{"final dot", []string{"-W", ".:3"}, func(t *Timeouts) { t.DataFinal = short }, "timed out while sending end of data -- message may be sent more than once"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sink := peer.StartSink(t, peer.SinkOptions{Flags: tt.flags})
			to := Timeouts{Connect: 10 * time.Second, Greeting: 20 * time.Second, Command: 20 * time.Second, Mail: 20 * time.Second,
				Rcpt: 20 * time.Second, DataInit: 20 * time.Second, DataBlock: 20 * time.Second, DataFinal: 20 * time.Second}
			tt.set(&to)
			c := newClient(t, Options{Address: "smtp://" + sink.Addr, TLS: tls.PolicyNone, Timeouts: to})
			start := time.Now()
			res := deliver(t, c, message("a@example.org", []string{"b@example.net"}, testContent))
			wantResult(t, res[0], envelope.Deferred, 0, "4.4.2", fmt.Sprintf("conversation with %s: %s", sink.Addr, tt.text))
			if d := time.Since(start); d > 2500*time.Millisecond {
				t.Errorf("took %v: the %v timeout did not apply", d, short)
			}
		})
	}
}

func TestSinkTLSRequiredNotOffered(t *testing.T) {
	sink := peer.StartSink(t, peer.SinkOptions{})
	for _, p := range []tls.Policy{tls.PolicyRequired, tls.PolicyVerify} {
		c := newClient(t, Options{Address: "smtp://" + sink.Addr, TLS: p})
		res := deliver(t, c, message("a@example.org", []string{"b@example.net"}, testContent))
		wantResult(t, res[0], envelope.Deferred, 0, "4.7.4",
			fmt.Sprintf("TLS is required (policy %s), but %s did not offer STARTTLS", p, sink.Addr))
	}
	if n := len(sink.Messages(t)); n != 0 {
		t.Errorf("the sink got %d messages", n)
	}
}

func TestSinkLMTP(t *testing.T) {
	sink := peer.StartSink(t, peer.SinkOptions{Flags: []string{"-L"}})
	c := newClient(t, Options{Address: "lmtp://" + sink.Addr, TLS: tls.PolicyNone})
	m := message("a@example.org", []string{"b@example.net", "c@example.net"}, testContent)
	for _, r := range deliver(t, c, m) {
		wantResult(t, r, envelope.Delivered, 250, "2.2.0", "Ok")
	}
	got := sink.WaitMessages(t, 1, testTimeout)[0]
	if got.Proto != "LMTP" || got.Helo != "sluice.test" || string(got.Data) != testContent || strings.Join(got.To, ",") != "b@example.net,c@example.net" {
		t.Errorf("proto %q helo %q to %v content %q", got.Proto, got.Helo, got.To, got.Data)
	}
}

// TestSinkXClientXForward reads smtp-sink's conversation log (-v): it
// offers "XCLIENT NAME HELO" and "XFORWARD NAME ADDR PROTO HELO", and
// answers 250 to both (the pre-2.3 XCLIENT reply, after which the client
// does not greet again). With -C it offers no XCLIENT and the client falls
// back to XFORWARD.
func TestSinkXClientXForward(t *testing.T) {
	const xclient = "XCLIENT NAME=client.example.net HELO=helo.example.net"
	const xforward = "XFORWARD NAME=client.example.net ADDR=192.0.2.77 PROTO=ESMTP HELO=helo.example.net"
	tests := []struct {
		name              string
		flags             []string
		xclient, xforward bool
		want              []string // the commands between EHLO and MAIL
	}{
		{"XCLIENT", []string{"-v"}, true, true, []string{xclient}},
		{"XFORWARD when XCLIENT is not offered", []string{"-v", "-C"}, true, true, []string{xforward}},
		{"XFORWARD when XCLIENT is off", []string{"-v"}, false, true, []string{xforward}},
		{"neither when both are off", []string{"-v"}, false, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink := peer.StartSink(t, peer.SinkOptions{Flags: tt.flags})
			c := newClient(t, Options{Address: "smtp://" + sink.Addr, TLS: tls.PolicyNone, XClient: tt.xclient, XForward: tt.xforward})
			m := message("a@example.org", []string{"b@example.net"}, testContent)
			m.Client = origClient()
			wantResult(t, deliver(t, c, m)[0], envelope.Delivered, 250, "2.0.0", "Ok")
			sink.WaitMessages(t, 1, testTimeout)
			want := append(append([]string{"EHLO sluice.test"}, tt.want...),
				"MAIL FROM:<a@example.org>", "RCPT TO:<b@example.net>", "DATA", ".")
			if got := sinkCommands(sink.Log()); strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("commands\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

// sinkCommands returns the SMTP commands in smtp-sink's -v log, from the
// first EHLO to the first ".".
func sinkCommands(log string) []string {
	var cmds []string
	for _, l := range strings.Split(log, "\n") {
		_, cmd, ok := strings.Cut(l, "smtp-sink: ")
		if !ok {
			continue
		}
		if strings.HasPrefix(cmd, "EHLO ") || len(cmds) > 0 {
			cmds = append(cmds, cmd)
		}
		if cmd == "." {
			break
		}
	}
	return cmds
}

func TestDownstreamDown(t *testing.T) {
	addr := closedPort(t)
	tests := []struct {
		address, text string
	}{
		{"smtp://" + addr, "connect to " + addr + ": dial tcp " + addr + ": connect: connection refused"},
		{"lmtp+unix:" + t.TempDir() + "/none.sock", "no such file or directory"},
	}
	for _, tt := range tests {
		c := newClient(t, Options{Address: tt.address, TLS: tls.PolicyNone})
		res := deliver(t, c, message("a@example.org", []string{"b@example.net", "c@example.net"}, testContent))
		for _, r := range res {
			wantResult(t, r, envelope.Deferred, 0, "4.4.1", tt.text)
			if r.Remote != "" {
				t.Errorf("Remote %q for a downstream that never answered", r.Remote)
			}
		}
	}
}
