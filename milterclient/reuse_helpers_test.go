package milterclient_test

// Helpers of the connection reuse tests (SMFIC_QUIT_NC): a listener that
// counts the milter connections, a dialer that counts dials, and a fake
// milter that logs every packet it gets per connection.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/filter"
	"github.com/sluice-mta/sluice/milter"
	"github.com/sluice-mta/sluice/miltersrv"
)

// countingListener counts the connections it accepted and those closed
// since (by the server).
type countingListener struct {
	net.Listener
	accepted, closed atomic.Int32
}

func (l *countingListener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.accepted.Add(1)
	return &closeCounter{Conn: nc, n: &l.closed}, nil
}

type closeCounter struct {
	net.Conn
	once sync.Once
	n    *atomic.Int32
}

func (c *closeCounter) Close() error {
	c.once.Do(func() { c.n.Add(1) })
	return c.Conn.Close()
}

// waitClosed waits until the server has closed n connections.
func (l *countingListener) waitClosed(t testing.TB, n int32) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for l.closed.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections closed by the server, want %d", l.closed.Load(), n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// serveCounted serves f with miltersrv like serveFilter, on a counting
// listener.
func serveCounted(t testing.TB, f filter.Filter) (string, *countingListener) {
	t.Helper()
	srv := miltersrv.New(f, miltersrv.Options{Logger: quietLogger()})
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &countingListener{Listener: inner}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; !errors.Is(err, miltersrv.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return inetAddr(inner), l
}

// countingDialer counts the connections the client opens.
type countingDialer struct {
	d     net.Dialer
	dials atomic.Int32
}

func (d *countingDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	d.dials.Add(1)
	return d.d.DialContext(ctx, network, address)
}

// What a packetFake connection does after SMFIC_QUIT_NC.
const (
	goOn        = iota // serves the next session
	closeAtOnce        // closes the connection (a milter that does not know the command)
	closeOnNext        // reads the next packet and closes without answering
)

// packetFake is a milter that logs every packet per connection, as the
// command's code (macros as "D" and their stage), negotiates proto, and
// answers Continue (eom at end of message) to every command that wants a
// reply.
type packetFake struct {
	*fakeMilter
	proto   milter.ProtoFlags
	eom     milter.Response
	afterNC func(n int) int // what connection n does after SMFIC_QUIT_NC

	mu   sync.Mutex
	logs map[int]*strings.Builder
	full map[int][]string // the packets in full, for replay checks
}

// startPacketFake starts a packetFake. A connection for which custom
// (when given) reports true is served by custom alone.
func startPacketFake(t testing.TB, proto milter.ProtoFlags, afterNC func(int) int, custom ...func(*fakeConn, int) bool) *packetFake {
	f := &packetFake{proto: proto, eom: milter.Continue{}, afterNC: afterNC,
		logs: map[int]*strings.Builder{}, full: map[int][]string{}}
	f.fakeMilter = startFake(t, func(c *fakeConn, n int) {
		if len(custom) > 0 && custom[0](c, n) {
			return
		}
		f.serve(c, n)
	})
	return f
}

// log returns what connection n got, e.g. "O DC C DH H ... K".
func (f *packetFake) log(n int) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if b := f.logs[n]; b != nil {
		return strings.TrimSpace(b.String())
	}
	return ""
}

func (f *packetFake) packets(n int) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.full[n]...)
}

// waitLog waits until connection n's log ends with suffix.
func (f *packetFake) waitLog(t testing.TB, n int, suffix string) string {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for {
		l := f.log(n)
		if strings.HasSuffix(l, suffix) {
			return l
		}
		if time.Now().After(deadline) {
			t.Fatalf("connection %d got %q, want it to end with %q", n, l, suffix)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (f *packetFake) note(n int, p milter.Packet) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.logs[n] == nil {
		f.logs[n] = &strings.Builder{}
	}
	entry := string(p.Code)
	if p.Code == milter.CmdMacro && len(p.Data) > 0 {
		entry += string(p.Data[0])
	}
	f.logs[n].WriteString(entry + " ")
	f.full[n] = append(f.full[n], fmt.Sprintf("%c %q", p.Code, p.Data))
}

func (f *packetFake) serve(c *fakeConn, n int) {
	quitNC := false
	for {
		p, err := c.r.ReadPacket()
		if err != nil {
			return
		}
		f.note(n, p)
		if quitNC && f.afterNC(n) == closeOnNext {
			return
		}
		var resp milter.Response
		switch {
		case p.Code == milter.CmdOptNeg:
			resp = milter.OptNeg{Version: 6, Actions: milter.ActAll, Protocol: f.proto}
		case p.Code == milter.CmdEndOfBody:
			resp = f.eom
		case p.Code == milter.CmdQuit:
			return
		case p.Code == milter.CmdQuitNewConn:
			if f.afterNC(n) == closeAtOnce {
				return
			}
			quitNC = true
		case p.Code != milter.CmdMacro && f.proto.ReplyExpected(p.Code):
			resp = milter.Continue{}
		}
		if resp != nil && c.send(resp) != nil {
			return
		}
	}
}

// always returns an afterNC that does the same for every connection.
func always(what int) func(int) int { return func(int) int { return what } }

// plainMessage is sampleMessage without headers, so logs stay short.
func plainMessage() message {
	m := sampleMessage()
	m.headers = nil
	return m
}

// smtpSession drives one SMTP connection with one message through c.
func smtpSession(t testing.TB, f filter.Filter) outcome {
	t.Helper()
	e := newEngine(t, f)
	defer e.close()
	if o := e.connect(plainMessage()); o.verdict != filter.Continue {
		return o
	}
	return e.transaction(plainMessage())
}
