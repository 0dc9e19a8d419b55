package milterclient_test

// Connection reuse (SMFIC_QUIT_NC) against other milter implementations:
// Sendmail's libmilter (supports it after end of message only), the
// filter side of emersion/go-milter (does not know the command and closes
// the connection, but negotiates version 2, which has none), and of
// d--j/go-milter (supports it, but answers
// SMFIR_ACCEPT at end of message, after which the client does not send
// it); and no goroutine or descriptor outlives a Milter's Close.

import (
	"bytes"
	"log/slog"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/filter"
	"github.com/sluice-mta/sluice/milter"
	"github.com/sluice-mta/sluice/milterclient"
)

// libmilter: the second SMTP connection reuses the milter connection and
// the milter starts it afresh (its per-connection state, from
// xxfi_connect, counts one message; no macro of the first session is
// left). A session that ends after HELO quits, and the next one connects
// anew: it does not wait for an SMFIC_CONNECT that libmilter would
// ignore after an SMFIC_QUIT_NC sent in that state.
func TestReuseLibmilter(t *testing.T) {
	bin := buildLibmilter(t, "allmods")
	for _, kind := range []string{"unix", "inet"} {
		t.Run(kind, func(t *testing.T) {
			addr := startAllmods(t, bin, kind, "plain")
			d := &countingDialer{}
			// A short command timeout: a milter that ignored a command
			// fails the test fast.
			c := newClient(t, milterclient.Options{Address: addr, MaxIdleConns: 1, Dialer: d, CommandTimeout: 3 * time.Second})
			defer c.Close()
			body := []byte("Short Body.\r\n")
			send := func(qid int, drop string) {
				t.Helper()
				e := lmEngine(t, c)
				defer e.close()
				if drop != "" {
					delete(e.macros, filter.CanonicalMacro(drop))
				}
				e.qid = qid
				e.connect(message{conn: sampleConn(), helo: "client.test"})
				_, o := lmTransaction(e, lmMessage(body, "b@example.org"))
				w := lmWant{qid: "QID" + strconv.Itoa(qid+1), msg: 1, rcpts: []string{"b@example.org"}, first: "b@example.org", bodyLen: len(body)}
				want := w.edits()
				if drop != "" {
					want[0].Value = strings.Replace(want[0].Value, drop+"=sluice", drop+"=-", 1)
				}
				if o.verdict != filter.Continue || !reflect.DeepEqual(o.edits, want) || !bytes.Equal(o.body, bytes.ToUpper(body)) {
					t.Fatalf("message %d: %v at %v (%v), edits:%s\nwant:%s", qid+1, o.verdict, o.stage,
						e.sess.(*milterclient.Session).Err(), lines(editStrings(o.edits)), lines(editStrings(want)))
				}
			}
			send(0, "")
			send(100, "{daemon_name}")
			if n := d.dials.Load(); n != 1 {
				t.Fatalf("%d dials for two SMTP connections, want 1", n)
			}
			e := lmEngine(t, c)
			if o := e.connect(message{conn: sampleConn(), helo: "client.test"}); o.verdict != filter.Continue {
				t.Fatalf("helo-only session: %v at %v", o.verdict, o.stage)
			}
			e.close()
			start := time.Now()
			send(200, "")
			if n := d.dials.Load(); n != 2 {
				t.Errorf("%d dials, want 2", n)
			}
			if took := time.Since(start); took > time.Second {
				t.Errorf("the session after a helo-only one took %v", took)
			}
		})
	}
}

// emersion/go-milter (v0.5.0) negotiates protocol version 2, which has
// no SMFIC_QUIT_NC (its server would close the connection on it): it is
// never sent, every session gets its own connection, nothing is logged.
func TestReuseEmersion(t *testing.T) {
	log := &callLog{}
	addr := serveEmersion(t, func() *emMilter { return &emMilter{log: log} }, 0, 0)
	d := &countingDialer{}
	logs := &logSink{}
	quitNC := 0
	c := newClient(t, milterclient.Options{Address: addr, MaxIdleConns: 2, Dialer: d, Logger: slog.New(logs),
		Trace: func(tr milterclient.Trace) {
			if _, ok := tr.Command.(milter.QuitNewConn); ok {
				quitNC++
			}
		}})
	defer c.Close()
	for i := range 3 {
		e := newEngine(t, c)
		fullSession(e)
		if err := e.sess.(*milterclient.Session).Err(); err != nil {
			t.Fatalf("session %d: %v", i+1, err)
		}
		e.close()
	}
	if n := d.dials.Load(); n != 3 || quitNC != 0 {
		t.Errorf("%d dials and %d SMFIC_QUIT_NC, want 3 and none", n, quitNC)
	}
	want := []string{"connect client.test tcp4 192.0.2.7", "helo client.test", "mail a@example.com i=QID1",
		"rcpt b@example.org", "eoh", "body hello\r\n", "eom i=QID1"}
	calls := log.get()
	for i := range 3 {
		if len(calls) < 7*(i+1) || !reflect.DeepEqual(calls[7*i:7*(i+1)], want) {
			t.Fatalf("calls:%s\nwant three times:%s", lines(calls), lines(want))
		}
	}
	if warns := logs.at(slog.LevelWarn); len(warns) != 0 {
		t.Errorf("warnings:%s", lines(warns))
	}
}

// d--j/go-milter answers SMFIR_ACCEPT at end of message, a state in which
// libmilter would ignore SMFIC_QUIT_NC: the client quits there. A session
// that sent nothing leaves its connection to the next.
func TestReuseDJ(t *testing.T) {
	log := &callLog{}
	addr := serveDJ(t, func() *djMilter { return &djMilter{log: log} })
	d := &countingDialer{}
	c := newClient(t, milterclient.Options{Address: addr, MaxIdleConns: 1, Dialer: d})
	defer c.Close()
	newEngine(t, c).close() // nothing sent: kept
	for i := range 2 {
		if o := smtpSession(t, c); o.verdict != filter.Accept || o.stage != filter.StageEndOfMessage {
			t.Fatalf("session %d: %v at %v", i+1, o.verdict, o.stage)
		}
	}
	if n := d.dials.Load(); n != 2 {
		t.Errorf("%d dials, want 2", n)
	}
	if calls := log.get(); len(calls) != 16 || calls[0] != "connect client.test tcp4 192.0.2.7" || calls[8] != calls[0] {
		t.Errorf("calls:%s", lines(calls))
	}
}

// No goroutine or descriptor outlives the sessions and Milter.Close, with
// connections reused, found closed, replaced, and expired.
func TestReuseNoLeaks(t *testing.T) {
	addr, _ := serveCounted(t, &recorder{})
	unsupported := startPacketFake(t, 0, always(closeOnNext))
	runtime.GC()
	goroutines, fds := runtime.NumGoroutine(), openFDs(t)
	for range 3 {
		clients := []*milterclient.Milter{
			newClient(t, milterclient.Options{Address: addr, MaxIdleConns: 2}),
			newClient(t, milterclient.Options{Address: addr, MaxIdleConns: 2, IdleTimeout: time.Millisecond}),
			newClient(t, milterclient.Options{Address: unsupported.addr(), MaxIdleConns: 2}),
		}
		for _, c := range clients {
			for range 4 {
				smtpSession(t, c)
			}
			time.Sleep(5 * time.Millisecond) // the short idle timeout expires
			must(t, c.Close())
		}
	}
	deadline := time.Now().Add(testTimeout)
	for {
		g, f := runtime.NumGoroutine(), openFDs(t)
		if g <= goroutines && f <= fds {
			break
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("goroutines %d (before %d), fds %d (before %d)\n%s", g, goroutines, f, fds, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
