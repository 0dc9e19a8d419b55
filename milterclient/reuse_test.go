package milterclient_test

// Connection reuse across SMTP connections (Options.MaxIdleConns,
// SMFIC_QUIT_NC): against miltersrv, which supports it, and fake milters
// that log every packet, do not know the command, or close at the wrong
// time.

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/filter"
	"github.com/sluice-mta/sluice/milter"
	"github.com/sluice-mta/sluice/milterclient"
)

// A second and third SMTP connection reuse the first milter connection,
// each with its own connect macros (none left over from the session
// before), and the negotiation of the first.
func TestReuseMiltersrv(t *testing.T) {
	tests := []struct {
		name       string
		maxIdle    int
		wantConns  int32
		wantQuitNC int
	}{
		{"off", 0, 3, 0},
		{"on", 2, 1, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{macros: map[filter.Stage][]string{
				filter.StageConnect: {"_", "{daemon_name}"}, filter.StageMail: {"i"}}}
			addr, l := serveCounted(t, rec)
			quitNC, optNeg := 0, 0
			c := newClient(t, milterclient.Options{Address: addr, MaxIdleConns: tt.maxIdle, Trace: func(tr milterclient.Trace) {
				switch tr.Command.(type) {
				case milter.QuitNewConn:
					quitNC++
				case milter.OptNeg:
					optNeg++
				}
			}})
			var want []string
			var negs []milterclient.Negotiation
			for i := 1; i <= 3; i++ {
				e := newEngine(t, c)
				e.macros.Set("_", fmt.Sprintf("client.test [192.0.2.%d]", i))
				if i == 2 {
					delete(e.macros, filter.CanonicalMacro("{daemon_name}"))
				}
				e.qid = 10 * i
				if o := e.connect(plainMessage()); o.verdict != filter.Continue {
					t.Fatalf("session %d: %v at %v", i, o.verdict, o.stage)
				}
				if o := e.transaction(plainMessage()); o.verdict != filter.Continue || o.stage != filter.StageEndOfMessage {
					t.Fatalf("session %d: %v at %v (%v)", i, o.verdict, o.stage, e.sess.(*milterclient.Session).Err())
				}
				neg, _ := e.sess.(*milterclient.Session).Negotiated()
				negs = append(negs, neg)
				e.close()
				connect := fmt.Sprintf("connect client.test 4 192.0.2.7:40000 _=client.test [192.0.2.%d]", i)
				if i != 2 {
					connect += " {daemon_name}=sluice"
				}
				want = append(want, connect, "helo client.test", fmt.Sprintf("mail <a@example.com> SIZE=100 BODY=8BITMIME i=QID%d", 10*i+1),
					"rcpt <b@example.org> NOTIFY=SUCCESS,FAILURE", "data", "eoh", `body "hello\r\n"`, "eom", "close")
				if calls := rec.waitCalls(t, "close"); !reflect.DeepEqual(calls, want) {
					t.Fatalf("after session %d, calls:%s\nwant:%s", i, lines(calls), lines(want))
				}
			}
			if n := l.accepted.Load(); n != tt.wantConns || int32(optNeg) != tt.wantConns || quitNC != tt.wantQuitNC {
				t.Errorf("%d milter connections, %d negotiations, %d SMFIC_QUIT_NC; want %d, %d, %d",
					n, optNeg, quitNC, tt.wantConns, tt.wantConns, tt.wantQuitNC)
			}
			if !reflect.DeepEqual(negs[1], negs[0]) || !reflect.DeepEqual(negs[2], negs[0]) {
				t.Errorf("negotiations %+v differ", negs)
			}
			must(t, c.Close())
			l.waitClosed(t, tt.wantConns) // the idle one too
		})
	}
}

// Only a connection whose milter is known to be between SMTP connections
// is kept: after end of message answered with SMFIR_CONTINUE (with
// SMFIC_QUIT_NC), or when nothing was sent on it (without). Every other
// session quits as without reuse. The packet logs are of the first milter
// connection: O optneg, D macros (with their stage), C connect, H helo, M
// mail, R rcpt, T data, N eoh, B body, E end of body, A abort, U unknown,
// Q quit, K quit-nc.
func TestReuseOnlyAtRest(t *testing.T) {
	msg := "DC C H DM M DR R DT T DN N B DE E"
	tests := []struct {
		name    string
		eom     milter.Response
		session func(e *engine) // the first SMTP connection
		cancel  bool            // Close with a cancelled context
		want    string          // connection 1's log after session 1
		reused  bool
	}{
		{name: "message", session: fullSession, want: "O " + msg + " K", reused: true},
		{name: "nothing sent", session: func(*engine) {}, want: "O", reused: true},
		{name: "helo only", session: func(e *engine) { e.connect(plainMessage()) }, want: "O DC C H Q"},
		{name: "inside a transaction", session: func(e *engine) {
			e.connect(plainMessage())
			e.sess.Mail(e.ctx, plainMessage().from)
		}, want: "O DC C H M Q"},
		{name: "rset after the message", session: func(e *engine) {
			fullSession(e)
			e.sess.Mail(e.ctx, plainMessage().from)
			e.sess.Abort(e.ctx)
		}, want: "O " + msg + " A DM M A Q"},
		{name: "unknown command after the message", session: func(e *engine) {
			fullSession(e)
			e.sess.Unknown(e.ctx, "FOO")
		}, want: "O " + msg + " U Q"},
		{name: "message rejected", eom: milter.Reject{}, session: fullSession, want: "O " + msg + " Q"},
		{name: "message accepted", eom: milter.Accept{}, session: fullSession, want: "O " + msg + " Q"},
		{name: "close with a cancelled context", session: fullSession, cancel: true, want: "O " + msg + " Q"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := startPacketFake(t, 0, always(goOn))
			if tt.eom != nil {
				fake.eom = tt.eom
			}
			c := newClient(t, milterclient.Options{Address: fake.addr(), MaxIdleConns: 1})
			e := newEngine(t, c)
			tt.session(e)
			if tt.cancel {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				e.ctx = ctx
			}
			e.close()
			if !tt.reused {
				fake.waitLog(t, 1, "")
			}
			if o := smtpSession(t, c); o.stage != filter.StageEndOfMessage {
				t.Fatalf("next session: %v at %v", o.verdict, o.stage)
			}
			got := fake.log(1)
			wantConns := 2
			if tt.reused {
				got = fake.waitLog(t, 1, "K")
				wantConns = 1
				if !strings.HasPrefix(got, tt.want+" DC C") || !strings.HasSuffix(got, msg+" K") {
					t.Errorf("connection 1 got %q, want %q then the next session", got, tt.want)
				}
			} else if got != tt.want {
				t.Errorf("connection 1 got %q, want %q", got, tt.want)
			}
			if n := fake.connections(); n != wantConns {
				t.Errorf("%d milter connections, want %d", n, wantConns)
			}
		})
	}
}

// fullSession runs connect, HELO and one message.
func fullSession(e *engine) {
	e.connect(plainMessage())
	e.transaction(plainMessage())
}

// A milter that does not know SMFIC_QUIT_NC closes the connection on it.
// The next session gets a new connection without noticing, and the milter
// is taken not to support reuse: logged once, no connection kept any more.
func TestReuseUnsupported(t *testing.T) {
	tests := []struct {
		name    string
		afterNC int
	}{
		{"closed at once", closeAtOnce},             // found closed when taken, or at its first command
		{"closed at the next command", closeOnNext}, // found closed at the first command
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := startPacketFake(t, 0, always(tt.afterNC))
			logs := &logSink{}
			c := newClient(t, milterclient.Options{Address: fake.addr(), MaxIdleConns: 4, Logger: slog.New(logs)})
			for i := 1; i <= 3; i++ {
				e := newEngine(t, c)
				fullSession(e)
				if err := e.sess.(*milterclient.Session).Err(); err != nil {
					t.Fatalf("session %d failed: %v", i, err)
				}
				e.close()
			}
			msg := "DC C H DM M DR R DT T DN N B DE E"
			want := map[int]string{1: "O " + msg + " K", 2: "O " + msg + " Q", 3: "O " + msg + " Q"}
			if tt.afterNC == closeOnNext {
				want[1] += " DC" // the packet that found it closed
			}
			for n, w := range want {
				if got := fake.waitLog(t, n, w[len(w)-1:]); got != w {
					t.Errorf("connection %d got %q, want %q", n, got, w)
				}
			}
			if n := fake.connections(); n != 3 {
				t.Errorf("%d milter connections, want 3", n)
			}
			warns := logs.at(slog.LevelWarn)
			if len(warns) != 1 || !strings.Contains(warns[0], "does not support SMFIC_QUIT_NC") {
				t.Errorf("warnings:%s", lines(warns))
			}
		})
	}
}

// A milter that skips every stage but end of message gets nothing on the
// wire before SMFIC_BODYEOB: when it closed the reused connection, the
// session replays on the new connection exactly the packets it had sent
// before (the macros of the skipped stages) and the message goes through.
func TestReuseReplay(t *testing.T) {
	skipAll := milter.ProtoNoConnect | milter.ProtoNoHelo | milter.ProtoNoMail | milter.ProtoNoRcpt |
		milter.ProtoNoData | milter.ProtoNoHeaders | milter.ProtoNoEOH | milter.ProtoNoBody
	fake := startPacketFake(t, skipAll, always(closeOnNext))
	c := newClient(t, milterclient.Options{Address: fake.addr(), MaxIdleConns: 1})
	for i := 1; i <= 2; i++ {
		if o := smtpSession(t, c); o.verdict != filter.Continue || o.stage != filter.StageEndOfMessage {
			t.Fatalf("session %d: %v at %v", i, o.verdict, o.stage)
		}
	}
	fake.waitLog(t, 2, "Q")
	first, second := fake.packets(1), fake.packets(2)
	// Connection 1: optneg, session 1, quit-nc, then the first packet of
	// session 2 (which the milter did not answer). Connection 2: optneg
	// and session 2, the same packets as session 1.
	session := first[1 : len(first)-2]
	if got := strings.Join(session, " "); !strings.Contains(got, `E ""`) || strings.Contains(got, "C ") {
		t.Fatalf("session 1 sent %s; want only macros and end of body", got)
	}
	if len(second) == 0 || !reflect.DeepEqual(second[1:len(second)-1], session) || second[len(second)-1] != `Q ""` {
		t.Errorf("connection 2 got:%s\nwant optneg,%s\nand quit", lines(second), lines(session))
	}
	if n := fake.connections(); n != 2 {
		t.Errorf("%d milter connections, want 2", n)
	}
}

// A session redials once: when the new connection fails too, the default
// action applies.
func TestReuseRedialsOnce(t *testing.T) {
	fake := startPacketFake(t, 0, always(closeOnNext), func(c *fakeConn, n int) bool {
		if n == 1 {
			return false
		}
		c.negotiate(0, 0)
		c.read() // and close
		return true
	})
	c := newClient(t, milterclient.Options{Address: fake.addr(), MaxIdleConns: 1})
	smtpSession(t, c)
	e := newEngine(t, c)
	defer e.close()
	tempfail := filter.CustomReply(451, "4.7.1", "Service unavailable - try again later")
	if v := e.sess.Connect(e.ctx, sampleConn()); !reflect.DeepEqual(v, tempfail) {
		t.Errorf("connect = %v, want %v", v, tempfail)
	}
	if err := e.sess.(*milterclient.Session).Err(); err == nil || !strings.Contains(err.Error(), "SMFIC_CONNECT") {
		t.Errorf("Err() = %v", err)
	}
	if n := fake.connections(); n != 2 {
		t.Errorf("%d milter connections, want 2", n)
	}
}

// Once a reused connection has answered, a milter that closes it later
// has failed like any other: no redial, the default action applies; and
// reuse goes on for the next sessions.
func TestReuseNoRedialAfterAnswer(t *testing.T) {
	fake := startPacketFake(t, 0, always(goOn), func(c *fakeConn, n int) bool {
		if n != 1 {
			return false
		}
		c.negotiate(0, 0)
		c.serveUntil(milter.CmdQuitNewConn)
		c.serveUntil(milter.CmdHelo) // answers connect, closes at HELO
		return true
	})
	c := newClient(t, milterclient.Options{Address: fake.addr(), MaxIdleConns: 1})
	smtpSession(t, c)
	e := newEngine(t, c)
	if v := e.sess.Connect(e.ctx, sampleConn()); v != filter.Continue {
		t.Fatalf("connect = %v", v)
	}
	if v := e.sess.Helo(e.ctx, "client.test"); v.Action != filter.ActionTempFail {
		t.Errorf("helo = %v, want the default action", v)
	}
	e.close()
	if n := fake.connections(); n != 1 {
		t.Errorf("%d milter connections, want 1", n)
	}
	smtpSession(t, c)
	smtpSession(t, c)
	if got, want := fake.waitLog(t, 2, "K"), "O DC C H DM M DR R DT T DN N B DE E K DC C H DM M DR R DT T DN N B DE E K"; got != want {
		t.Errorf("connection 2 got %q, want %q", got, want)
	}
}

// Idle connections expire after IdleTimeout.
func TestReuseIdleTimeout(t *testing.T) {
	const idle = 100 * time.Millisecond
	addr, l := serveCounted(t, &recorder{})
	c := newClient(t, milterclient.Options{Address: addr, MaxIdleConns: 1, IdleTimeout: idle})
	defer c.Close()
	smtpSession(t, c)
	start := time.Now()
	l.waitClosed(t, 1)
	if took := time.Since(start); took < idle*9/10 || took > idle+testTimeout/2 {
		t.Errorf("idle connection closed after %v, want %v", took, idle)
	}
	smtpSession(t, c)
	smtpSession(t, c) // reuses the second
	if n := l.accepted.Load(); n != 2 {
		t.Errorf("%d milter connections, want 2", n)
	}
}

// At most MaxIdleConns connections wait; Milter.Close closes them, and
// sessions that end after Close quit.
func TestReuseMaxIdleAndClose(t *testing.T) {
	addr, l := serveCounted(t, &recorder{})
	c := newClient(t, milterclient.Options{Address: addr, MaxIdleConns: 2})
	round := func(n int) []*engine {
		var es []*engine
		for range n {
			e := newEngine(t, c)
			fullSession(e)
			es = append(es, e)
		}
		return es
	}
	closeAll := func(es []*engine) {
		for _, e := range es {
			e.close()
		}
	}
	closeAll(round(3)) // three connections, two kept
	l.waitClosed(t, 1)
	closeAll(round(3)) // two reused, one new
	if n := l.accepted.Load(); n != 4 {
		t.Errorf("%d milter connections, want 4", n)
	}
	l.waitClosed(t, 2)
	open := round(2) // both idle ones
	must(t, c.Close())
	closeAll(open)
	l.waitClosed(t, 4)
	smtpSession(t, c) // after Close: works, is not kept
	l.waitClosed(t, 5)
	if n := l.accepted.Load(); n != 5 {
		t.Errorf("%d milter connections, want 5", n)
	}
}

// A version 5 milter does not know SMFIC_QUIT_NC: nothing is kept.
func TestReuseNeedsVersion6(t *testing.T) {
	fake := startFake(t, func(c *fakeConn, _ int) {
		if _, ok := c.read().(milter.OptNeg); !ok {
			return
		}
		c.send(milter.OptNeg{Version: 5, Actions: milter.ActAll})
		c.proto = 0
		if cmd := c.serveUntil(milter.CmdQuitNewConn); cmd != nil {
			c.t.Errorf("SMFIC_QUIT_NC sent to a version 5 milter")
		}
	})
	c := newClient(t, milterclient.Options{Address: fake.addr(), MaxIdleConns: 1})
	smtpSession(t, c)
	smtpSession(t, c)
	if n := fake.connections(); n != 2 {
		t.Errorf("%d milter connections, want 2", n)
	}
}
