package smtpd

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestIdleTimeout(t *testing.T) {
	opts := baseOptions(newTestSpool(t))
	opts.Timeouts.Command = 200 * time.Millisecond
	ts := startServer(t, opts)
	c := dial(t, ts.addr, "")
	c.expect("220 mx.test ESMTP")
	start := time.Now()
	c.expect("421 4.4.2 mx.test Timeout exceeded, closing connection")
	c.closed()
	if d := time.Since(start); d < 150*time.Millisecond || d > 5*time.Second {
		t.Fatalf("timed out after %v", d)
	}
	dial(t, ts.addr, "").expect("220 mx.test ESMTP") // still up
}

func TestDataTimeout(t *testing.T) {
	opts := baseOptions(newTestSpool(t))
	opts.Timeouts.Data = 200 * time.Millisecond
	ts := startServer(t, opts)
	c := dial(t, ts.addr, "")
	c.expect("220 mx.test ESMTP")
	c.ehlo("client.test")
	c.do("MAIL FROM:<a@example.net>", "250 2.1.0 Ok")
	c.do("RCPT TO:<b@example.org>", "250 2.1.5 Ok")
	c.do("DATA", "354 End data with <CR><LF>.<CR><LF>")
	c.send("Subject: never ends\r\n")
	c.expect("421 4.4.2 mx.test Timeout exceeded, closing connection")
	c.closed()
	if left := leftoversAfterClose(t, ts); len(left) != 0 || len(ts.spool.messages()) != 0 {
		t.Fatalf("drafts left %v, messages %d", left, len(ts.spool.messages()))
	}
}

func TestConnectionTimeLimit(t *testing.T) {
	opts := baseOptions(newTestSpool(t))
	opts.Timeouts.Connection = 300 * time.Millisecond
	ts := startServer(t, opts)
	c := dial(t, ts.addr, "")
	c.expect("220 mx.test ESMTP")
	for i := 0; i < 100; i++ { // keep busy: the per-command timeout never fires
		c.send("NOOP\r\n")
		if r := c.reply(); r != "250 2.0.0 Ok" {
			if r != "421 4.4.2 mx.test Timeout exceeded, closing connection" {
				t.Fatalf("reply %q", r)
			}
			c.closed()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("the session outlived its time limit")
}

// TestConnectionsPerIP opens 200 connections at once from one address:
// MaxConnectionsPerIP of them are served, the rest refused, and another
// address is still served.
func TestConnectionsPerIP(t *testing.T) {
	opts := baseOptions(newTestSpool(t))
	opts.MaxConnectionsPerIP = 50
	ts := startServer(t, opts)
	var mu sync.Mutex
	replies := map[string]int{}
	var conns []net.Conn
	var wg sync.WaitGroup
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nc, err := net.DialTimeout("tcp", ts.addr, 5*time.Second)
			if err != nil {
				t.Error(err)
				return
			}
			_ = nc.SetDeadline(time.Now().Add(20 * time.Second))
			l, err := bufio.NewReader(nc).ReadString('\n')
			mu.Lock()
			replies[l]++
			conns = append(conns, nc)
			mu.Unlock()
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	want := map[string]int{
		"220 mx.test ESMTP\r\n": 50,
		"421 4.7.0 mx.test Too many connections from your address, try again later\r\n": 150,
	}
	if fmt.Sprint(replies) != fmt.Sprint(want) {
		t.Errorf("greetings %v, want %v", replies, want)
	}
	dial(t, ts.addr, "127.0.0.2").expect("220 mx.test ESMTP")
	for _, nc := range conns {
		nc.Close()
	}
	// Once they are gone, the address is served again.
	for i := 0; ; i++ {
		c := dial(t, ts.addr, "")
		if r := c.reply(); r == "220 mx.test ESMTP" {
			break
		} else if i == 100 {
			t.Fatalf("still refused: %q", r)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestMaxConnections(t *testing.T) {
	opts := baseOptions(newTestSpool(t))
	opts.MaxConnections = 2
	ts := startServer(t, opts)
	a, b := dial(t, ts.addr, ""), dial(t, ts.addr, "127.0.0.2")
	a.expect("220 mx.test ESMTP")
	b.expect("220 mx.test ESMTP")
	c := dial(t, ts.addr, "127.0.0.3")
	c.expect("421 4.7.0 mx.test Too many connections, try again later")
	c.closed()
}

func TestManyRecipients(t *testing.T) {
	opts := baseOptions(newTestSpool(t))
	opts.MaxRecipients = 1000
	ts := startServer(t, opts)
	c := dial(t, ts.addr, "")
	c.expect("220 mx.test ESMTP")
	c.ehlo("client.test")
	c.do("MAIL FROM:<a@example.net>", "250 2.1.0 Ok")
	var cmds strings.Builder
	for i := 0; i < 2000; i++ {
		fmt.Fprintf(&cmds, "RCPT TO:<r%d@example.org>\r\n", i)
	}
	go func() {
		if _, err := io.WriteString(c.c, cmds.String()); err != nil {
			t.Error(err)
		}
	}()
	counts := map[string]int{}
	for i := 0; i < 2000; i++ {
		counts[c.reply()]++
	}
	if counts["250 2.1.5 Ok"] != 1000 || counts["452 4.5.3 Too many recipients"] != 1000 {
		t.Fatalf("replies %v", counts)
	}
	c.do("DATA", "354 End data with <CR><LF>.<CR><LF>")
	c.send("Subject: many\r\n\r\n.\r\n")
	c.expect("250 2.0.0 Ok: queued as Q1")
	if n := len(ts.spool.messages()[0].Envelope.Recipients); n != 1000 {
		t.Fatalf("%d recipients stored", n)
	}
}

// TestSpoolFailures: a spool that cannot store answers 452 4.3.1 (disk
// full), 451 4.3.0 (anything else) or its own *Error; nothing is kept,
// and the client can try again.
func TestSpoolFailures(t *testing.T) {
	full := fmt.Errorf("%w: write q/Q1.msg: no space left on device", ErrSpoolTemporary)
	tests := []struct {
		name                 string
		create, write, comit error
		atMail, atEnd        string
	}{
		{"full at commit", nil, nil, full, "250 2.1.0 Ok", "452 4.3.1 Insufficient system storage, try again later"},
		{"full while writing", nil, full, nil, "250 2.1.0 Ok", "452 4.3.1 Insufficient system storage, try again later"},
		{"full at create", full, nil, nil, "452 4.3.1 Insufficient system storage, try again later", ""},
		{"other failure", nil, nil, errors.New("bad record"), "250 2.1.0 Ok", "451 4.3.0 Local error in processing, try again later"},
		{"own reply", nil, nil, fmt.Errorf("quota: %w", errorf(452, "4.2.2", "Mailbox full")), "250 2.1.0 Ok", "452 4.2.2 Mailbox full"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sp := newTestSpool(t)
			ts := startServer(t, baseOptions(sp))
			c := dial(t, ts.addr, "")
			c.expect("220 mx.test ESMTP")
			c.ehlo("client.test")
			sp.setErrs(tt.create, tt.write, tt.comit)
			c.do("MAIL FROM:<a@example.net>", tt.atMail)
			if tt.atEnd != "" {
				c.do("RCPT TO:<b@example.org>", "250 2.1.5 Ok")
				c.do("DATA", "354 End data with <CR><LF>.<CR><LF>")
				c.send("Subject: s\r\n\r\nbody\r\n.\r\n")
				c.expect(tt.atEnd)
			}
			if len(sp.messages()) != 0 || len(sp.leftovers(t)) != 0 {
				t.Fatalf("stored %d, left %v", len(sp.messages()), sp.leftovers(t))
			}
			sp.setErrs(nil, nil, nil)
			if got := c.sendMessage("a@example.net", []string{"b@example.org"}, "Subject: s\r\n\r\nbody\r\n.\r\n"); !strings.HasPrefix(got, "250 2.0.0 Ok: queued as ") {
				t.Fatalf("retry: %q", got)
			}
		})
	}
}
