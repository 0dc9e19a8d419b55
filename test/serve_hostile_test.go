package test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	// svFlood is how many connections come at once from one address, and
	// svPerIP the configured limit per address.
	svFlood = 200
	svPerIP = 50
	// svManyRcpts is how many recipients one transaction tries; sluice
	// takes max_recipients (svMaxRcpts) of them.
	svManyRcpts = 2000
	svMaxRcpts  = 1000
	// svMaxErrors is how many error replies a session gets before 421.
	svMaxErrors = 20
)

// Replies to hostile input.
const (
	svBadChar   = "500 5.5.2 Bad character in command"
	svUnknown   = "500 5.5.1 Command not recognized"
	svTooLong   = "500 5.5.2 Line too long"
	svNotCRLF   = "500 5.5.2 Command line not ended by CRLF"
	svTooMany   = "421 4.7.0 " + svHost + " Too many errors, closing connection"
	svPerIPFull = "421 4.7.0 " + svHost + " Too many connections from your address, try again later"
)

// svGroupHostile sends garbage, overlong lines, NUL bytes, bare LFs, an
// HTTP request, 2,000 recipients and 200 simultaneous connections from
// one address; each gets its exact reply, and a normal message is
// delivered afterwards.
func svGroupHostile(t *testing.T, bin string) {
	sink := svStartSink(t)
	s := svStart(t, bin, svConfig{
		SMTP: []string{fmt.Sprintf("max_connections_per_ip = %d", svPerIP), fmt.Sprintf("max_recipients = %d", svMaxRcpts),
			`command_timeout = "3s"`},
		Downstream: sink.Downstream(),
	})
	t.Run("cases", func(t *testing.T) {
		for _, c := range []struct {
			name string
			run  func(*testing.T, *svSluice, *svSink)
		}{
			{"garbage", svGarbage},
			{"http", svHTTP},
			{"long_lines", svLongLines},
			{"nul_bytes", svNUL},
			{"bare_lf_command", svBareLFCommand},
			{"silent_client", svSilent},
			{"2000_recipients", svManyRecipients},
			{"200_connections_one_address", svFloodOneAddress},
		} {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				c.run(t, s, sink)
			})
		}
	})
	t.Run("still_serving", func(t *testing.T) {
		rcpt := "after@example.org"
		content := svCRLF(strings.Join(svMessage(rcpt, "after the attacks", "still up"), "\n") + "\n")
		c := svOpen(t, s.Addr, "", "normal.test", svEHLO(svDefaultSize, svExtTLS))
		id := c.send("sender@example.com", []string{rcpt}, content)
		c.quit()
		svCheckRelayed(t, sink.waitOne(t, rcpt), svReceived{Helo: "normal.test", Name: "unknown", Addr: "127.0.0.1", Proto: "ESMTP", For: rcpt}, id, content)
	})
	s.waitQueueEmpty(t)
	s.stop(t)
}

// svGarbage sends random binary lines (each with a control character)
// and random unknown verbs, from a fixed seed, until the session reaches
// its error limit and is closed with 421.
func svGarbage(t *testing.T, s *svSluice, _ *svSink) {
	rng := rand.New(rand.NewChaCha8([32]byte{'s', 'l', 'u', 'i', 'c', 'e'}))
	c := svDial(t, s.Addr, "127.0.0.5")
	c.expect(svGreeting)
	for i := 1; i <= svMaxErrors; i++ {
		var line []byte
		want := svBadChar
		if i%2 == 1 {
			line = make([]byte, 1+rng.IntN(400))
			for j := range line {
				for line[j] = byte(rng.Uint32()); line[j] == '\r' || line[j] == '\n'; line[j] = byte(rng.Uint32()) {
				}
			}
			ctl := byte(rng.IntN(0x20)) // a control character somewhere
			if ctl == '\r' || ctl == '\n' {
				ctl = 0
			}
			line[rng.IntN(len(line))] = ctl
		} else {
			line = []byte("XZ")
			for range 3 + rng.IntN(40) {
				line = append(line, byte('A'+rng.IntN(26)))
			}
			want = svUnknown
		}
		c.write(string(line) + "\r\n")
		c.expect(want)
		if i == 10 {
			c.cmd("NOOP", "250 2.0.0 Ok") // garbage does not end the session early
		}
	}
	c.expect(svTooMany)
	c.closed()
}

func svHTTP(t *testing.T, s *svSluice, _ *svSink) {
	c := svDial(t, s.Addr, "")
	c.expect(svGreeting)
	c.write("GET / HTTP/1.1\r\nHost: " + svHost + "\r\n\r\n")
	c.expect("502 5.5.1 This is an SMTP server, not a web server")
	c.closed()
}

// svLongLines sends 10,000-byte command lines, one longer than any
// command may be, and a 10,000-byte content line.
func svLongLines(t *testing.T, s *svSluice, _ *svSink) {
	c := svOpen(t, s.Addr, "", "long.test", svEHLO(svDefaultSize, svExtTLS))
	for _, line := range []string{
		"NOOP " + strings.Repeat("a", 10000-len("NOOP \r\n")),
		"MAIL FROM:<" + strings.Repeat("b", 10000-len("MAIL FROM:<@example.com>\r\n")) + "@example.com>",
		"AUTH PLAIN " + strings.Repeat("c", 20000),
		strings.Repeat("d", 100000),
	} {
		c.write(line + "\r\n")
		c.expect(svTooLong)
	}
	c.cmd("NOOP", "250 2.0.0 Ok")
	c.cmd("MAIL FROM:<sender@example.com>", "250 2.1.0 Ok")
	c.cmd("RCPT TO:<long@example.org>", "250 2.1.5 Ok")
	c.cmd("DATA", "354 End data with <CR><LF>.<CR><LF>")
	c.write("Subject: long line\r\n\r\n" + strings.Repeat("e", 10000-2) + "\r\n.\r\n")
	c.expect("500 5.6.0 Line longer than 1000 octets (RFC 5321 section 4.5.3.1.6)")
	c.cmd("NOOP", "250 2.0.0 Ok")
	c.quit()
}

// svNUL sends NUL bytes in commands (refused) and in content (relayed as
// they are: sluice does not change content bytes other than line ends).
func svNUL(t *testing.T, s *svSluice, sink *svSink) {
	c := svDial(t, s.Addr, "")
	c.expect(svGreeting)
	for _, line := range []string{"EHLO nul\x00.test", "\x00\x00\x00\x00", "NOOP\x00"} {
		c.cmd(line, svBadChar)
	}
	c.cmd("EHLO nul.test", svEHLO(svDefaultSize, svExtTLS))
	c.cmd("MAIL FROM:<nul\x00@example.com>", svBadChar)
	rcpt := "nul@example.org"
	content := svCRLF(strings.Join(svMessage(rcpt, "nul bytes", "before\x00after", "\x00\x00"), "\n") + "\n")
	id := c.send("sender@example.com", []string{rcpt}, content)
	c.quit()
	svCheckRelayed(t, sink.waitOne(t, rcpt), svReceived{Helo: "nul.test", Name: "unknown", Addr: "127.0.0.1", Proto: "ESMTP", For: rcpt}, id, content)
}

func svBareLFCommand(t *testing.T, s *svSluice, _ *svSink) {
	c := svDial(t, s.Addr, "")
	c.expect(svGreeting)
	c.write("NOOP\n")
	c.expect(svNotCRLF)
	c.write("EHLO lf.test\nMAIL FROM:<sender@example.com>\n")
	c.expect(svNotCRLF)
	c.expect(svNotCRLF)
	c.cmd("NOOP", "250 2.0.0 Ok")
	c.cmd("MAIL FROM:<sender@example.com>", "503 5.5.1 Send HELO or EHLO first")
	c.quit()
}

// svSilent checks the command timeout (smtp.command_timeout, 3s here): a
// client that connects and never sends gets 421 4.4.2 and is closed.
func svSilent(t *testing.T, s *svSluice, _ *svSink) {
	c := svDial(t, s.Addr, "")
	c.expect(svGreeting)
	c.expect("421 4.4.2 " + svHost + " Timeout exceeded, closing connection")
	c.closed()
}

// svManyRecipients pipelines 2,000 RCPT commands: the first
// max_recipients are accepted, the rest get 452 4.5.3, and the message
// goes downstream to exactly the accepted ones.
func svManyRecipients(t *testing.T, s *svSluice, sink *svSink) {
	rcpt := func(i int) string { return fmt.Sprintf("rcpt-%04d@example.org", i) }
	c := svOpen(t, s.Addr, "", "many.test", svEHLO(svDefaultSize, svExtTLS))
	c.cmd("MAIL FROM:<sender@example.com>", "250 2.1.0 Ok")
	var b strings.Builder
	for i := range svManyRcpts {
		b.WriteString("RCPT TO:<" + rcpt(i) + ">\r\n")
	}
	wrote := make(chan error, 1)
	go func() { // write while the replies are read, so neither side's buffers fill
		_ = c.c.SetWriteDeadline(time.Now().Add(svWait))
		_, err := c.c.Write([]byte(b.String()))
		wrote <- err
	}()
	for i := range svManyRcpts {
		want := "250 2.1.5 Ok"
		if i >= svMaxRcpts {
			want = "452 4.5.3 Too many recipients"
		}
		c.expect(want)
	}
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	c.cmd("DATA", "354 End data with <CR><LF>.<CR><LF>")
	content := svCRLF("From: <sender@example.com>\nTo: undisclosed-recipients:;\nSubject: many\n\nmany recipients\n")
	c.write(string(content) + ".\r\n")
	id := c.match(svQueuedRE)
	c.quit()
	m := sink.waitOne(t, rcpt(0))
	svCheckRelayed(t, m, svReceived{Helo: "many.test", Name: "unknown", Addr: "127.0.0.1", Proto: "ESMTP"}, id, content)
	if len(m.Rcpts) != svMaxRcpts {
		t.Fatalf("downstream got %d recipients, want %d", len(m.Rcpts), svMaxRcpts)
	}
	for i, r := range m.Rcpts {
		if want := "RCPT TO:<" + rcpt(i) + ">"; r != want {
			t.Fatalf("downstream recipient %d is %q, want %q", i, r, want)
		}
	}
}

// svFloodOneAddress opens svFlood connections at once from one address:
// exactly svPerIP are greeted, the others get 421 4.7.0 and are closed;
// once they are gone, the address is served again.
func svFloodOneAddress(t *testing.T, s *svSluice, sink *svSink) {
	const from = "127.0.0.3"
	conns := make([]*svConn, svFlood)
	firsts := make([]string, svFlood)
	errs := make([]error, svFlood)
	var wg sync.WaitGroup
	for i := range svFlood {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := svTryDial(s.Addr, from)
			if err != nil {
				errs[i] = err
				return
			}
			conns[i] = c
			firsts[i], errs[i] = c.reply()
		}()
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, c := range conns {
			if c != nil {
				c.c.Close()
			}
		}
	})
	greeted, refused := 0, 0
	for i := range svFlood {
		switch {
		case errs[i] != nil:
			t.Errorf("connection %d: %v (read %q)", i, errs[i], firsts[i])
		case firsts[i] == svGreeting:
			greeted++
		case firsts[i] == svPerIPFull:
			refused++
		default:
			t.Errorf("connection %d: first reply %q", i, firsts[i])
		}
	}
	if greeted != svPerIP || refused != svFlood-svPerIP {
		t.Errorf("%d greeted and %d refused, want %d and %d", greeted, refused, svPerIP, svFlood-svPerIP)
	}
	for i, c := range conns {
		if c == nil {
			continue
		}
		if firsts[i] == svPerIPFull {
			c.t = t
			c.closed()
		}
		c.c.Close()
	}
	c := svRedial(t, s.Addr, from)
	rcpt := "flood@example.org"
	t.Cleanup(func() { c.c.Close() })
	c.t = t
	c.cmd("EHLO flood.test", svEHLO(svDefaultSize, svExtTLS))
	content := svCRLF(strings.Join(svMessage(rcpt, "after the flood", "served again"), "\n") + "\n")
	id := c.send("sender@example.com", []string{rcpt}, content)
	c.quit()
	svCheckRelayed(t, sink.waitOne(t, rcpt), svReceived{Helo: "flood.test", Name: "unknown", Addr: from, Proto: "ESMTP", For: rcpt}, id, content)
}

// svRedial connects from an address whose connections were just closed,
// until sluice, having noticed the closes, greets it again.
func svRedial(t *testing.T, addr, from string) *svConn {
	t.Helper()
	deadline := time.Now().Add(svWait)
	for {
		c, err := svTryDial(addr, from)
		if err != nil {
			t.Fatal(err)
		}
		first, err := c.reply()
		if err == nil && first == svGreeting {
			return c
		}
		c.c.Close()
		if first != svPerIPFull || time.Now().After(deadline) {
			t.Fatalf("after the flood: %q, %v", first, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
