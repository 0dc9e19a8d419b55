package milterclient_test

import (
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/milter"
)

// fakeMilter is a milter written with the codec for tests: each
// connection runs a script. It is closed, and its goroutines waited for,
// at the end of the test.
type fakeMilter struct {
	t      testing.TB
	l      net.Listener
	script func(c *fakeConn, n int) // n counts connections from 1
	wg     sync.WaitGroup

	mu    sync.Mutex
	n     int
	conns []net.Conn
}

func startFake(t testing.TB, script func(c *fakeConn, n int)) *fakeMilter {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeMilter{t: t, l: l, script: script}
	f.wg.Add(1)
	go f.accept()
	t.Cleanup(f.close)
	return f
}

func (f *fakeMilter) addr() string { return inetAddr(f.l) }

func (f *fakeMilter) accept() {
	defer f.wg.Done()
	for {
		nc, err := f.l.Accept()
		if err != nil {
			return
		}
		f.mu.Lock()
		f.n++
		n := f.n
		f.conns = append(f.conns, nc)
		f.mu.Unlock()
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			defer nc.Close()
			nc.SetDeadline(time.Now().Add(2 * testTimeout))
			f.script(&fakeConn{t: f.t, nc: nc, r: milter.NewReader(nc, 4<<20), w: milter.NewWriter(nc)}, n)
		}()
	}
}

// connections returns how many connections the fake accepted.
func (f *fakeMilter) connections() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n
}

func (f *fakeMilter) close() {
	f.l.Close()
	f.mu.Lock()
	for _, c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
}

// fakeConn is one connection of a fake milter.
type fakeConn struct {
	t     testing.TB
	nc    net.Conn
	r     *milter.Reader
	w     *milter.Writer
	proto milter.ProtoFlags // what it negotiated
}

// read returns the next command; macros are skipped. nil at the end.
func (c *fakeConn) read() milter.Command {
	for {
		p, err := c.r.ReadPacket()
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				c.t.Logf("fake milter: %v", err)
			}
			return nil
		}
		cmd, err := milter.DecodeCommand(p)
		if err != nil {
			c.t.Errorf("fake milter: %v", err)
			return nil
		}
		if _, ok := cmd.(milter.Macro); !ok {
			return cmd
		}
	}
}

// send writes responses in one write.
func (c *fakeConn) send(resps ...milter.Response) error {
	for _, r := range resps {
		c.w.WritePacket(r.Encode())
	}
	return c.w.Flush()
}

// raw writes bytes as they are.
func (c *fakeConn) raw(b []byte) { c.nc.Write(b) }

// negotiate answers the offer with version 6 and the given flags.
func (c *fakeConn) negotiate(acts milter.ActionFlags, proto milter.ProtoFlags) bool {
	if _, ok := c.read().(milter.OptNeg); !ok {
		c.t.Errorf("fake milter: no option negotiation")
		return false
	}
	c.proto = proto
	c.send(milter.OptNeg{Version: 6, Actions: acts, Protocol: proto})
	return true
}

// serveUntil answers Continue to every command that expects a reply until
// one with code stop arrives, which it returns unanswered. nil when the
// connection ends first.
func (c *fakeConn) serveUntil(stop byte) milter.Command {
	for {
		cmd := c.read()
		if cmd == nil {
			return nil
		}
		if cmd.Code() == stop {
			return cmd
		}
		if c.proto.ReplyExpected(cmd.Code()) {
			c.send(milter.Continue{})
		}
	}
}

// serve is a well-behaved milter: continue to everything.
func (c *fakeConn) serve() {
	if c.negotiate(0, 0) {
		c.serveUntil(0)
	}
}

// drain reads without answering until the client goes away.
func (c *fakeConn) drain() {
	for c.read() != nil {
	}
}
