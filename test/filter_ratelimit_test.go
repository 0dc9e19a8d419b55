package test

import (
	"testing"
)

// TestFilterRateLimit runs the real `sluice serve` with [filters.ratelimit]
// and loopback not exempt, and checks the exact replies over each limit.
// Each case comes from its own loopback address, so each is its own
// client; the window is long enough that no token comes back meanwhile.
func TestFilterRateLimit(t *testing.T) {
	bin := svBuildSluice(t)
	sink := svStartSink(t)
	s := svStart(t, bin, svConfig{
		Downstream: sink.Downstream(),
		Extra: `[filters.ratelimit]
connections = 3
messages = 2
recipients = 4
window = "1h"
exempt_networks = []
`,
	})
	t.Run("messages", func(t *testing.T) { rlMessages(t, s, sink) })
	t.Run("connections", func(t *testing.T) { rlConnections(t, s) })
	t.Run("recipients", func(t *testing.T) { rlRecipients(t, s) })
	s.stop(t)
}

// rlMessages: the third MAIL from 127.0.0.1 gets exactly the 450; the
// session goes on, and the first message was relayed.
func rlMessages(t *testing.T, s *svSluice, sink *svSink) {
	const over = "450 4.7.1 Too many messages from [127.0.0.1], slow down"
	c := svOpen(t, s.Addr, "127.0.0.1", "client.test", svEHLO(svDefaultSize, svExtTLS))
	c.send("a@example.com", []string{"rl-first@example.net"}, svCRLF("Subject: one\n\nbody\n"))
	c.cmd("MAIL FROM:<a@example.com>", "250 2.1.0 Ok")
	c.cmd("RSET", "250 2.0.0 Ok")
	c.cmd("MAIL FROM:<a@example.com>", over)
	c.cmd("RCPT TO:<rl-refused@example.net>", "503 5.5.1 Need MAIL command")
	c.cmd("MAIL FROM:<b@example.com>", over)
	c.cmd("NOOP", "250 2.0.0 Ok")
	c.quit()
	// A new connection from the same client is still over its rate.
	c = svOpen(t, s.Addr, "127.0.0.1", "client.test", svEHLO(svDefaultSize, svExtTLS))
	c.cmd("MAIL FROM:<a@example.com>", over)
	c.quit()
	sink.waitOne(t, "rl-first@example.net")
}

// rlConnections: three connections at once are let in, the fourth gets
// 421 4.7.0 as its greeting and is closed; after the three end, a fifth,
// sequential one is refused too (a rate, not a concurrency limit).
func rlConnections(t *testing.T, s *svSluice) {
	const client = "127.0.0.3"
	const over = "421 4.7.0 Too many connections from [" + client + "], slow down"
	var open []*svConn
	for range 3 {
		c := svDial(t, s.Addr, client)
		c.expect(svGreeting)
		open = append(open, c)
	}
	c := svDial(t, s.Addr, client)
	c.expect(over)
	c.closed()
	for _, c := range open {
		c.cmd("EHLO client.test", svEHLO(svDefaultSize, svExtTLS))
		c.quit()
	}
	c = svDial(t, s.Addr, client)
	c.expect(over)
	c.closed()
	// Another client is not affected.
	c = svDial(t, s.Addr, "127.0.0.4")
	c.expect(svGreeting)
	c.quit()
}

// rlRecipients: four RCPT pass, the fifth gets 450 for that recipient
// only, and the message goes on with the four.
func rlRecipients(t *testing.T, s *svSluice) {
	const over = "450 4.7.1 Too many recipients from [127.0.0.5], slow down"
	c := svOpen(t, s.Addr, "127.0.0.5", "client.test", svEHLO(svDefaultSize, svExtTLS))
	c.cmd("MAIL FROM:<a@example.com>", "250 2.1.0 Ok")
	for _, r := range []string{"r1", "r2", "r3", "r4"} {
		c.cmd("RCPT TO:<"+r+"@example.net>", "250 2.1.5 Ok")
	}
	c.cmd("RCPT TO:<r5@example.net>", over)
	c.cmd("RCPT TO:<r6@example.net>", over)
	c.cmd("RSET", "250 2.0.0 Ok")
	c.quit()
}
