package peer

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// queuedAs finds the queue ID in a swaks transcript of a Postfix session.
var queuedAs = regexp.MustCompile(`<-  250 2\.0\.0 Ok: queued as ([0-9A-F]+)\r?\n`)

func queueID(t *testing.T, transcript string) string {
	t.Helper()
	m := queuedAs.FindStringSubmatch(transcript)
	if m == nil {
		t.Fatalf("no queue ID in transcript:\n%s", transcript)
	}
	return m[1]
}

// receivedBy matches the Received header Postfix prepends; the groups are
// the queue ID and, for a message with one recipient, that recipient.
func receivedBy(helo, by string) *regexp.Regexp {
	return regexp.MustCompile(`^Received: from ` + regexp.QuoteMeta(helo) +
		` \(localhost \[127\.0\.0\.1\]\)\r\n\tby ` + regexp.QuoteMeta(by) +
		` \(Postfix\) with ESMTP id ([0-9A-F]+)(?:;\r\n\t|\r\n\tfor <([^>]+)>; )[^\r\n]+\r\n`)
}

func TestPostfixRelaysToSink(t *testing.T) {
	t.Parallel()
	Need(t, "swaks")
	sink := StartSink(t, SinkOptions{})
	pf := StartPostfix(t, PostfixOptions{Relay: sink.Addr})
	out := swaksOK(t, "--server", pf.Addr(), "--helo", "client.test",
		"--from", "a@example.org", "--to", "b@example.net,c@example.net",
		"--data", "@"+writeMessage(t, testMessage))
	id := queueID(t, out)

	m := sink.WaitMessages(t, 1, waitTimeout)[0]
	if m.From != "a@example.org" || !slices.Equal(m.To, []string{"b@example.net", "c@example.net"}) {
		t.Errorf("envelope %q -> %q", m.From, m.To)
	}
	if m.Helo != "postfix.test" {
		t.Errorf("HELO %q, want postfix.test", m.Helo)
	}
	rx := receivedBy("client.test", "postfix.test")
	loc := rx.FindSubmatchIndex(m.Data)
	if loc == nil {
		t.Fatalf("no Received header from Postfix at the top of:\n%s", m.Data)
	}
	if got := string(m.Data[loc[2]:loc[3]]); got != id {
		t.Errorf("Received names queue ID %s, swaks saw %s", got, id)
	}
	if body := string(m.Data[loc[1]:]); body != testMessage+"\r\n" {
		t.Errorf("content after Received\n got %q\nwant %q", body, testMessage+"\r\n")
	}
	pf.WaitQueueEmpty(t, waitTimeout)
	pf.WaitLog(t, id+": removed", waitTimeout)
}

// TestTwoPostfix chains two instances: front relays to back, back to the
// sink. Each adds its Received header.
func TestTwoPostfix(t *testing.T) {
	t.Parallel()
	Need(t, "swaks")
	sink := StartSink(t, SinkOptions{})
	back := StartPostfix(t, PostfixOptions{Hostname: "back.test", Relay: sink.Addr})
	front := StartPostfix(t, PostfixOptions{Hostname: "front.test", Relay: back.Addr()})
	if front.Dir == back.Dir || front.Port == back.Port {
		t.Fatalf("instances share %s / %d", front.Dir, front.Port)
	}
	swaksOK(t, "--server", front.Addr(), "--helo", "client.test",
		"--from", "a@example.org", "--to", "b@example.net",
		"--data", "@"+writeMessage(t, testMessage))

	m := sink.WaitMessages(t, 1, waitTimeout)[0]
	data := m.Data
	for _, hop := range []struct{ helo, by string }{{"front.test", "back.test"}, {"client.test", "front.test"}} {
		loc := receivedBy(hop.helo, hop.by).FindSubmatchIndex(data)
		if loc == nil {
			t.Fatalf("no Received from %s by %s at the top of:\n%s", hop.helo, hop.by, data)
		}
		if rcpt := string(data[loc[4]:loc[5]]); rcpt != "b@example.net" {
			t.Errorf("Received by %s for <%s>", hop.by, rcpt)
		}
		data = data[loc[1]:]
	}
	if string(data) != testMessage+"\r\n" {
		t.Errorf("content\n got %q\nwant %q", data, testMessage+"\r\n")
	}
	front.WaitQueueEmpty(t, waitTimeout)
	back.WaitQueueEmpty(t, waitTimeout)
}

func TestPostfixHoldAndPostconf(t *testing.T) {
	t.Parallel()
	Need(t, "swaks")
	sink := StartSink(t, SinkOptions{})
	pf := StartPostfix(t, PostfixOptions{
		Relay: sink.Addr,
		Main:  map[string]string{"smtpd_sender_restrictions": "check_sender_access static:HOLD"},
	})
	send := func() string {
		return queueID(t, swaksOK(t, "--server", pf.Addr(), "--from", "a@example.org", "--to", "b@example.net"))
	}
	held := send()
	if got := pf.HoldQueue(t); !slices.Equal(got, []string{held}) {
		t.Fatalf("hold queue %v, want [%s]", got, held)
	}
	q := pf.Queue(t)
	if len(q) != 1 || q[0].QueueName != "hold" || q[0].QueueID != held || q[0].Sender != "a@example.org" ||
		len(q[0].Recipients) != 1 || q[0].Recipients[0].Address != "b@example.net" {
		t.Fatalf("queue %+v", q)
	}
	if pf.QueueEmpty(t) {
		t.Fatal("QueueEmpty with a message on hold")
	}

	pf.Postconf(t, map[string]string{"smtpd_sender_restrictions": ""})
	sent := send()
	msgs := sink.WaitMessages(t, 1, waitTimeout)
	if len(msgs) != 1 || !bytes.Contains(msgs[0].Data, []byte(" with ESMTP id "+sent+"\r\n")) {
		t.Fatalf("sink got %d messages; want the one queued as %s", len(msgs), sent)
	}
	if got := pf.HoldQueue(t); !slices.Equal(got, []string{held}) {
		t.Errorf("hold queue after reload %v, want [%s]", got, held)
	}
}

// TestPostfixWithoutRelay checks that the default instance refuses
// recipients rather than send mail anywhere.
func TestPostfixWithoutRelay(t *testing.T) {
	t.Parallel()
	Need(t, "swaks")
	pf := StartPostfix(t, PostfixOptions{})
	out, err := Swaks(t, "--server", pf.Addr(), "--from", "a@example.org", "--to", "b@example.net")
	want := "<** 450 4.4.0 <b@example.net>: Recipient address rejected: no relay configured for this test instance"
	if err == nil || !strings.Contains(out, want) {
		t.Errorf("swaks: %v, want %q:\n%s", err, want, out)
	}
	if !pf.QueueEmpty(t) {
		t.Errorf("queue holds %v", pf.pending(t))
	}
}

// TestPostfixDeferAndFlush defers mail at a sink that answers 450 to
// RCPT, then points the relay at a working sink and flushes.
func TestPostfixDeferAndFlush(t *testing.T) {
	t.Parallel()
	Need(t, "swaks")
	busy := StartSink(t, SinkOptions{Flags: []string{"-r", "RCPT"}})
	good := StartSink(t, SinkOptions{})
	pf := StartPostfix(t, PostfixOptions{Relay: busy.Addr})
	id := queueID(t, swaksOK(t, "--server", pf.Addr(), "--from", "a@example.org", "--to", "b@example.net"))
	var q []QueueEntry
	if !waitFor(waitTimeout, func() bool {
		q = pf.Queue(t)
		return len(q) == 1 && q[0].QueueName == "deferred"
	}) {
		t.Fatalf("queue %+v, want %s deferred", q, id)
	}
	want := "host 127.0.0.1[127.0.0.1] said: 450 4.3.0 Error: command failed (in reply to RCPT TO command)"
	if r := q[0].Recipients; q[0].QueueID != id || len(r) != 1 || r[0].DelayReason != want {
		t.Errorf("queue %+v, want %s for b@example.net deferred with %q", q, id, want)
	}

	pf.Postconf(t, map[string]string{"relayhost": "[127.0.0.1]:" + strconv.Itoa(good.Port)})
	pf.Flush(t)
	pf.WaitQueueEmpty(t, waitTimeout)
	m := good.WaitMessages(t, 1, waitTimeout)
	if len(m) != 1 || !bytes.Contains(m[0].Data, []byte(" with ESMTP id "+id+"\r\n")) {
		t.Errorf("good sink got %d messages; want the one queued as %s", len(m), id)
	}
	if n := len(busy.Messages(t)); n != 0 {
		t.Errorf("busy sink got %d messages", n)
	}
}

// TestPostfixMilterSocket checks that Postfix's smtpd reaches a unix
// socket made with SocketPath and AllowPostfix: it opens the milter
// conversation with an option negotiation packet.
func TestPostfixMilterSocket(t *testing.T) {
	t.Parallel()
	Need(t, "swaks")
	path := SocketPath(t, "milter.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	AllowPostfix(t, path)
	first := make(chan []byte, 10)
	go func() {
		for range cap(first) {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_ = c.SetDeadline(time.Now().Add(waitTimeout))
			head := make([]byte, 5) // 4-byte length, command byte
			n, _ := io.ReadFull(c, head)
			c.Close() // hang up: Postfix applies milter_default_action
			first <- head[:n]
		}
	}()
	pf := StartPostfix(t, PostfixOptions{Main: map[string]string{
		"smtpd_milters":         "unix:" + path,
		"milter_default_action": "tempfail",
	}})
	out, err := Swaks(t, "--server", pf.Addr(), "--from", "a@example.org", "--to", "b@example.net")
	if len(first) != 1 {
		t.Fatalf("milter socket got %d connections, want 1 (for swaks)", len(first))
	}
	head := <-first
	if len(head) != 5 || head[4] != 'O' || binary.BigEndian.Uint32(head) < 1 {
		t.Fatalf("milter socket got %q, want an option negotiation packet", head)
	}
	if err == nil || !strings.Contains(out, "451 4.7.1") {
		t.Errorf("swaks: %v, want a 451 4.7.1 tempfail:\n%s", err, out)
	}
}
