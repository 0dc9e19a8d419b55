package test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/test/peer"
)

const (
	// svLoadMessages and svLoadSessions size the smtp-source load.
	svLoadMessages = 50
	svLoadSessions = 5
)

// svPostfixReceived is the regexp of the Received field a Postfix
// instance named postfix.test adds for a client that used EHLO, anchored
// at the start.
func svPostfixReceived(helo, name, addr, rcpt string) *regexp.Regexp {
	return svPostfixReceivedProto(helo, name, addr, "ESMTP", rcpt)
}

// svPostfixReceivedProto is svPostfixReceived for protocol proto.
func svPostfixReceivedProto(helo, name, addr, proto, rcpt string) *regexp.Regexp {
	q := regexp.QuoteMeta
	return regexp.MustCompile(`^Received: from ` + q(helo) + ` \(` + q(name) + ` \[` + q(addr) + `\]\)\r\n` +
		`\tby postfix\.test \(Postfix\) with ` + q(proto) + ` id [0-9A-Za-z]+\r\n` +
		`\tfor <` + q(rcpt) + `>; ` + svDateRE + ` \([A-Z]+\)\r\n`)
}

// svPostfixRig is the postfix_downstream group: client → sluice → Postfix
// (XCLIENT allowed from loopback) → smtp-sink.
type svPostfixRig struct {
	s    *svSluice
	pf   *peer.Postfix
	sink *peer.Sink
}

// svGroupPostfixDownstream relays through sluice to a real Postfix that
// accepts XCLIENT from sluice: the message arrives at Postfix's sink
// byte-exact, with sluice's Received field and filter edit, and Postfix's
// Received field names the original client (or the one an authorized
// XCLIENT or XFORWARD to sluice named).
func svGroupPostfixDownstream(t *testing.T, bin string) {
	peer.Need(t, "postfix", "smtp-sink")
	r := &svPostfixRig{sink: peer.StartSink(t, peer.SinkOptions{})}
	r.pf = peer.StartPostfix(t, peer.PostfixOptions{Relay: r.sink.Addr, Main: map[string]string{
		"smtpd_authorized_xclient_hosts": "127.0.0.0/8",
		"relay_domains":                  "example.org",
	}})
	r.s = svStart(t, bin, svConfig{
		SMTP: []string{
			`trusted_networks = ["127.0.0.1/32"]`,
			`relay_domains = ["example.org"]`,
			`xclient_hosts = ["127.0.0.1/32"]`,
			`xforward_hosts = ["127.0.0.1/32"]`,
		},
		Downstream: "smtp://" + r.pf.Addr(),
	})
	t.Run("cases", func(t *testing.T) {
		for _, c := range []struct {
			name string
			run  func(*testing.T, *svPostfixRig)
		}{
			{"end_to_end", svPostfixEndToEnd},
			{"xclient_authorized", svPostfixXClient},
			{"xforward_authorized", svPostfixXForward},
		} {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				c.run(t, r)
			})
		}
	})
	r.s.waitQueueEmpty(t)
	r.pf.WaitQueueEmpty(t, svWait)
	r.s.stop(t)
}

// svPostfixCheck waits for the one message to rcpt at Postfix's sink and
// checks it: Postfix's Received field naming the client, sluice's (queue
// ID id), then content with sluice's edit.
func svPostfixCheck(t *testing.T, r *svPostfixRig, pfRcv *regexp.Regexp, rcv svReceived, id string, content []byte) {
	t.Helper()
	data := svPeerWaitOne(t, r.sink, rcv.For).Data
	loc := pfRcv.FindIndex(data)
	if loc == nil {
		t.Fatalf("message at Postfix's sink does not start with Postfix's Received field /%s/:\n%q", pfRcv, data)
	}
	svCheckRelayed(t, svMsg{Data: svStuff(data[loc[1]:])}, rcv, id, content)
}

func svPostfixEndToEnd(t *testing.T, r *svPostfixRig) {
	rcpt := "e2e@example.org"
	content := svCRLF(strings.Join(svMessage(rcpt, "postfix downstream", "body line", ".dot line", "", "  indented", "end"), "\n") + "\n")
	c := svOpen(t, r.s.Addr, "127.0.0.2", "orig.client.test", svEHLO(svDefaultSize, svExtTLS))
	id := c.send("sender@example.com", []string{rcpt}, content)
	c.quit()
	svPostfixCheck(t, r, svPostfixReceived("orig.client.test", "unknown", "127.0.0.2", rcpt),
		svReceived{Helo: "orig.client.test", Name: "unknown", Addr: "127.0.0.2", Proto: "ESMTP", For: rcpt}, id, content)
}

// svPostfixXClient sends XCLIENT to sluice from an authorized address:
// sluice restarts the session as the named client (its HELO included),
// judges relaying for it, and passes the identity on to Postfix.
func svPostfixXClient(t *testing.T, r *svPostfixRig) {
	rcpt := "xclient@example.org"
	content := svCRLF(strings.Join(svMessage(rcpt, "xclient authorized", "forwarded identity"), "\n") + "\n")
	c := svOpen(t, r.s.Addr, "", "proxy.test", svEHLO(svDefaultSize, svExtTLS, svExtXClient, svExtXForward))
	c.cmd("XCLIENT NAME=mail.example.net ADDR=192.0.2.7 PORT=40123 HELO=relay.example.net", svGreeting)
	c.cmd("EHLO proxy.test", svEHLO(svDefaultSize, svExtTLS, svExtXClient, svExtXForward))
	c.cmd("MAIL FROM:<sender@example.com>", "250 2.1.0 Ok")
	// The forwarded client is not in trusted_networks.
	c.cmd("RCPT TO:<xclient@"+svOther+">", "554 5.7.1 <xclient@"+svOther+">: Relay access denied")
	c.cmd("RSET", "250 2.0.0 Ok")
	id := c.send("sender@example.com", []string{rcpt}, content)
	c.quit()
	svPostfixCheck(t, r, svPostfixReceived("relay.example.net", "mail.example.net", "192.0.2.7", rcpt),
		svReceived{Helo: "relay.example.net", Name: "mail.example.net", Addr: "192.0.2.7", Proto: "ESMTP", For: rcpt}, id, content)
}

// svPostfixXForward sends XFORWARD to sluice from an authorized address:
// the next message carries the forwarded identity to Postfix.
func svPostfixXForward(t *testing.T, r *svPostfixRig) {
	rcpt := "xforward@example.org"
	content := svCRLF(strings.Join(svMessage(rcpt, "xforward authorized", "forwarded identity"), "\n") + "\n")
	c := svOpen(t, r.s.Addr, "", "proxy.test", svEHLO(svDefaultSize, svExtTLS, svExtXClient, svExtXForward))
	c.cmd("XFORWARD NAME=fwd.example.net ADDR=198.51.100.9 PORT=2525 PROTO=ESMTP", "250 2.0.0 Ok")
	c.cmd("XFORWARD HELO=fwd-helo.example.net SOURCE=REMOTE", "250 2.0.0 Ok")
	id := c.send("sender@example.com", []string{rcpt}, content)
	c.quit()
	svPostfixCheck(t, r, svPostfixReceived("fwd-helo.example.net", "fwd.example.net", "198.51.100.9", rcpt),
		svReceived{Helo: "fwd-helo.example.net", Name: "fwd.example.net", Addr: "198.51.100.9", Proto: "ESMTP", For: rcpt}, id, content)
}

// svPeerWaitOne waits for the message to rcpt (its only recipient) at an
// smtp-sink and checks that exactly one came.
func svPeerWaitOne(t *testing.T, sink *peer.Sink, rcpt string) peer.Message {
	t.Helper()
	to := func() []peer.Message {
		var got []peer.Message
		for _, m := range sink.Messages(t) {
			if slices.Equal(m.To, []string{rcpt}) {
				got = append(got, m)
			}
		}
		return got
	}
	deadline := time.Now().Add(svWait)
	for len(to()) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("smtp-sink: no message for <%s> after %v", rcpt, svWait)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	got := to()
	if len(got) != 1 {
		t.Fatalf("smtp-sink got %d messages for <%s>, want exactly 1", len(got), rcpt)
	}
	return got[0]
}

// svGroupPostfixClient makes a real Postfix the sending client: its
// relayhost is sluice, which it tells the original client with XFORWARD,
// and smtp-source loads it with svLoadMessages messages over
// svLoadSessions sessions. Every message must arrive at the raw sink
// behind sluice, byte-exact, once.
func svGroupPostfixClient(t *testing.T, bin string) {
	peer.Need(t, "postfix", "smtp-source")
	source := svLookPath(t, "smtp-source")
	sink := svStartSink(t)
	s := svStart(t, bin, svConfig{
		SMTP:       []string{`xforward_hosts = ["127.0.0.1/32"]`},
		Downstream: sink.Downstream(),
	})
	pf := peer.StartPostfix(t, peer.PostfixOptions{Relay: s.Addr, Main: map[string]string{
		"smtp_send_xforward_command": "yes",
	}})
	const rcpt = "load@example.org"
	lines := []string{"From: <sender@example.com>", "To: <" + rcpt + ">", "Date: Mon, 2 Jan 2006 15:04:05 +0000",
		"Message-ID: <load@example.com>", "Subject: smtp-source load", "", "first line", ".dot line", "last line"}
	file := filepath.Join(t.TempDir(), "load.eml")
	if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), svWait)
	defer cancel()
	cmd := exec.CommandContext(ctx, source, "-m", strconv.Itoa(svLoadMessages), "-s", strconv.Itoa(svLoadSessions),
		"-M", "source.test", "-f", "sender@example.com", "-t", rcpt, "-F", file, pf.Addr())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("smtp-source: %v\n%s", err, out)
	}
	msgs := sink.wait(t, rcpt, svLoadMessages)
	// smtp-source sends HELO, and an empty line after the file.
	content := svCRLF(strings.Join(lines, "\n") + "\n\n")
	pfRcv := svPostfixReceivedProto("source.test", "localhost", "127.0.0.1", "SMTP", rcpt)
	// Postfix forwards smtp-source's identity with XFORWARD.
	rcv := svReceived{Helo: "source.test", Name: "localhost", Addr: "127.0.0.1", Proto: "SMTP", For: rcpt}
	ids := map[string]bool{}
	for i, m := range msgs {
		id := rcv.re().FindSubmatch(m.Data)
		if id == nil {
			t.Fatalf("message %d does not start with sluice's Received field /%s/:\n%q", i, rcv.re(), m.Data)
		}
		ids[string(id[1])] = true
		rest := m.Data[len(id[0]):]
		loc := pfRcv.FindIndex(rest)
		if loc == nil {
			t.Fatalf("message %d: no Postfix Received field /%s/ after sluice's:\n%q", i, pfRcv, rest)
		}
		if want := svStuff(svFiltered(content)); !bytes.Equal(rest[loc[1]:], want) {
			t.Fatalf("message %d after the Received fields:\n%q\nwant\n%q", i, rest[loc[1]:], want)
		}
		if m.Mail != "MAIL FROM:<sender@example.com>" {
			t.Errorf("message %d: downstream %q", i, m.Mail)
		}
	}
	if len(ids) != svLoadMessages {
		t.Errorf("%d distinct sluice queue IDs in %d messages, want %d", len(ids), len(msgs), svLoadMessages)
	}
	pf.WaitQueueEmpty(t, svWait)
	s.waitQueueEmpty(t)
	if got := len(sink.to(rcpt)); got != svLoadMessages {
		t.Errorf("raw sink got %d messages, want exactly %d", got, svLoadMessages)
	}
	if n := strings.Count(s.log(), `msg="smtpd: queued"`); n != svLoadMessages {
		t.Errorf("sluice logged %d queued messages, want %d", n, svLoadMessages)
	}
	s.stop(t)
}
