package smtpd

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"
)

// TestShutdownDrains: an idle session gets 421 at once; a session in a
// transaction finishes it, then gets 421 for its next command; new
// connections are not accepted; Shutdown returns when all are done.
func TestShutdownDrains(t *testing.T) {
	ts := startServer(t, baseOptions(newTestSpool(t)))
	idle := dial(t, ts.addr, "")
	idle.expect("220 mx.test ESMTP")
	busy := dial(t, ts.addr, "127.0.0.2")
	busy.expect("220 mx.test ESMTP")
	busy.ehlo("client.test")
	busy.do("MAIL FROM:<a@example.net>", "250 2.1.0 Ok")
	busy.do("RCPT TO:<b@example.org>", "250 2.1.5 Ok")

	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- ts.Shutdown(ctx)
	}()
	idle.expect("421 4.3.2 mx.test Service shutting down, closing connection")
	idle.closed()
	if _, err := net.DialTimeout("tcp", ts.addr, time.Second); err == nil {
		t.Error("a new connection was accepted while draining")
	}
	busy.do("DATA", "354 End data with <CR><LF>.<CR><LF>")
	busy.send("Subject: last\r\n\r\n.\r\n")
	busy.expect("250 2.0.0 Ok: queued as Q1")
	busy.do("NOOP", "421 4.3.2 mx.test Service shutting down, closing connection")
	busy.closed()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown did not return")
	}
	if len(ts.spool.messages()) != 1 {
		t.Fatal("the transaction in flight was lost")
	}
}

func TestShutdownDeadline(t *testing.T) {
	ts := startServer(t, baseOptions(newTestSpool(t)))
	c := dial(t, ts.addr, "")
	c.expect("220 mx.test ESMTP")
	c.ehlo("client.test")
	c.do("MAIL FROM:<a@example.net>", "250 2.1.0 Ok") // in a transaction: not interrupted
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := ts.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v", err)
	}
	c.closed()
	if left := leftoversAfterClose(t, ts); len(left) != 0 {
		t.Fatalf("drafts left: %v", left)
	}
}
