package test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// svDurable is how many messages are accepted before the SIGKILL while
// the downstream defers.
const svDurable = 5

// svGroupDurability kills sluice with SIGKILL right after a 250 and starts
// it again on the same spool: every acknowledged message is delivered.
// First with the downstream deferring (421 greeting), so the messages are
// only on disk at the kill; then with the downstream up, where a message
// may already be delivered when the kill lands (at least once: one copy,
// or two identical ones).
func svGroupDurability(t *testing.T, bin string) {
	sink := svStartSink(t)
	s := svStart(t, bin, svConfig{Downstream: sink.Downstream()})

	t.Run("downstream_deferring", func(t *testing.T) {
		sink.defer421.Store(true)
		c := svOpen(t, s.Addr, "", "durable.test", svEHLO(svDefaultSize, svExtTLS))
		ids := make([]string, svDurable)
		contents := make([][]byte, svDurable)
		for i := range svDurable {
			rcpt := fmt.Sprintf("durable-%d@example.org", i)
			contents[i] = svCRLF(strings.Join(svMessage(rcpt, fmt.Sprintf("durable %d", i), "survives kill -9"), "\n") + "\n")
			ids[i] = c.send("sender@example.com", []string{rcpt}, contents[i])
		}
		s.crash(t)
		if got := len(s.queued(t)); got != svDurable {
			t.Fatalf("spool holds %d envelope records after SIGKILL, want %d", got, svDurable)
		}
		if got := sink.messages(); len(got) != 0 {
			t.Fatalf("the deferring downstream got %d messages", len(got))
		}
		sink.defer421.Store(false)
		s.restart(t)
		for i := range svDurable {
			rcpt := fmt.Sprintf("durable-%d@example.org", i)
			m := sink.waitOne(t, rcpt)
			svCheckRelayed(t, m, svReceived{Helo: "durable.test", Name: "unknown", Addr: "127.0.0.1", Proto: "ESMTP", For: rcpt}, ids[i], contents[i])
		}
		s.waitQueueEmpty(t)
	})

	t.Run("downstream_up", func(t *testing.T) {
		rcpt := "durable-up@example.org"
		content := svCRLF(strings.Join(svMessage(rcpt, "durable up", "at least once"), "\n") + "\n")
		c := svOpen(t, s.Addr, "", "durable.test", svEHLO(svDefaultSize, svExtTLS))
		id := c.send("sender@example.com", []string{rcpt}, content)
		s.crash(t)
		s.restart(t)
		svCheckRelayed(t, svAtLeastOnce(t, s, sink, rcpt), svReceived{Helo: "durable.test", Name: "unknown", Addr: "127.0.0.1", Proto: "ESMTP", For: rcpt}, id, content)
	})

	t.Run("sigterm_drains", func(t *testing.T) {
		svDrain(t, s, sink)
	})
	s.stop(t)
}

// svDrain sends SIGTERM while one session is idle and another is in the
// middle of DATA: the idle one gets 421 4.3.2 at once, the other finishes
// its message (250) and then gets 421 4.3.2; the process exits 0, and the
// message is delivered after a restart if it was not before.
func svDrain(t *testing.T, s *svSluice, sink *svSink) {
	const shutting = "421 4.3.2 " + svHost + " Service shutting down, closing connection"
	rcpt := "drain@example.org"
	content := svCRLF(strings.Join(svMessage(rcpt, "drain", "in flight at SIGTERM", "second half"), "\n") + "\n")
	idle := svOpen(t, s.Addr, "", "idle.test", svEHLO(svDefaultSize, svExtTLS))
	busy := svOpen(t, s.Addr, "", "busy.test", svEHLO(svDefaultSize, svExtTLS))
	busy.cmd("MAIL FROM:<sender@example.com>", "250 2.1.0 Ok")
	busy.cmd("RCPT TO:<"+rcpt+">", "250 2.1.5 Ok")
	busy.cmd("DATA", "354 End data with <CR><LF>.<CR><LF>")
	half := len(content) / 2
	busy.write(string(content[:half]))
	s.term(t)
	idle.expect(shutting) // draining has begun
	idle.closed()
	busy.write(string(content[half:]) + ".\r\n")
	id := busy.match(svQueuedRE)
	busy.cmd("NOOP", shutting)
	busy.closed()
	s.waitExit(t)
	s.restart(t)
	svCheckRelayed(t, svAtLeastOnce(t, s, sink, rcpt), svReceived{Helo: "busy.test", Name: "unknown", Addr: "127.0.0.1", Proto: "ESMTP", For: rcpt}, id, content)
}

// svAtLeastOnce waits until the spool is empty and rcpt's message has
// arrived, and returns it: one copy, or two identical ones when sluice
// stopped between a delivery and its record (delivery is at least once).
func svAtLeastOnce(t *testing.T, s *svSluice, sink *svSink, rcpt string) svMsg {
	t.Helper()
	s.waitQueueEmpty(t)
	got := sink.wait(t, rcpt, 1)
	if len(got) > 2 {
		t.Fatalf("%d copies delivered, want 1 (or 2 when the stop came between delivery and its record)", len(got))
	}
	for _, m := range got[1:] {
		if !bytes.Equal(m.Data, got[0].Data) {
			t.Fatalf("second copy differs:\n%q\nfirst:\n%q", m.Data, got[0].Data)
		}
	}
	return got[0]
}
