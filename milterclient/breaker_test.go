package milterclient_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/filter"
	"github.com/sluice-mta/sluice/milterclient"
	"github.com/sluice-mta/sluice/miltersrv"
)

// fakeClock is a Clock the test moves.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// switchDialer dials like an unreachable host (waiting until the context
// ends) while down, and really once up; gate, when set, holds real dials
// until it is closed.
type switchDialer struct {
	up    atomic.Bool
	dials atomic.Int32
	gate  chan struct{}
}

func (d *switchDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d.dials.Add(1)
	if !d.up.Load() {
		<-ctx.Done()
		return nil, &net.OpError{Op: "dial", Net: network, Err: ctx.Err()}
	}
	if d.gate != nil {
		<-d.gate
	}
	var nd net.Dialer
	return nd.DialContext(ctx, network, addr)
}

func openSession(t *testing.T, c *milterclient.Milter) (*milterclient.Session, time.Duration) {
	t.Helper()
	start := time.Now()
	s := c.Open(context.Background(), filter.MacroMap{})
	return s, time.Since(start)
}

func TestCircuitBreaker(t *testing.T) {
	const connectTimeout = 200 * time.Millisecond
	rec := &recorder{}
	addr := serveFilter(t, rec, miltersrv.Options{})
	clock := &fakeClock{now: time.Unix(1_000_000, 0)}
	d := &switchDialer{}
	logs := &logSink{}
	c := newClient(t, milterclient.Options{
		Name: "dkim", Address: addr, ConnectTimeout: connectTimeout, Dialer: d, Clock: clock, Logger: slog.New(logs),
		Breaker: milterclient.BreakerOptions{Failures: 1, OpenFor: time.Minute},
	})
	tempfail := filter.CustomReply(451, "4.7.1", "Service unavailable - try again later")

	// Down: the first session waits out the connect timeout...
	s, took := openSession(t, c)
	if took < connectTimeout || took > 20*connectTimeout {
		t.Errorf("first session took %v, want about %v", took, connectTimeout)
	}
	if v := s.Connect(context.Background(), sampleConn()); !reflect.DeepEqual(v, tempfail) {
		t.Errorf("first session connect = %v", v)
	}
	s.Close(context.Background())
	// ...the next ones get the default action at once.
	for i := range 5 {
		s, took := openSession(t, c)
		if took > connectTimeout/4 || !errors.Is(s.Err(), milterclient.ErrCircuitOpen) {
			t.Errorf("session %d took %v, Err() = %v", i+2, took, s.Err())
		}
		if v := s.Connect(context.Background(), sampleConn()); !reflect.DeepEqual(v, tempfail) {
			t.Errorf("session %d connect = %v", i+2, v)
		}
		s.Close(context.Background())
	}
	if n := d.dials.Load(); n != 1 {
		t.Errorf("%d dials while the circuit is open, want 1", n)
	}
	warns := logs.at(slog.LevelWarn)
	if len(warns) != 2 || !strings.Contains(warns[0], "milter failed") || !strings.Contains(warns[1], "circuit open") {
		t.Errorf("warnings:%s", lines(warns))
	}

	// Still down when the interval ends: the probe fails, the circuit
	// opens again.
	clock.advance(time.Minute)
	if s, _ := openSession(t, c); s.Err() == nil || errors.Is(s.Err(), milterclient.ErrCircuitOpen) {
		t.Errorf("probe while down: Err() = %v, want a dial failure", s.Err())
	}
	if s, _ := openSession(t, c); !errors.Is(s.Err(), milterclient.ErrCircuitOpen) {
		t.Errorf("after a failed probe: Err() = %v", s.Err())
	}

	// Back up: one session probes while the others still get the default
	// action; once it connects, everyone does.
	d.up.Store(true)
	d.gate = make(chan struct{})
	clock.advance(time.Minute)
	probe := make(chan *milterclient.Session)
	go func() { probe <- c.Open(context.Background(), filter.MacroMap{}) }()
	for d.dials.Load() != 3 {
		time.Sleep(time.Millisecond)
	}
	if s, took := openSession(t, c); !errors.Is(s.Err(), milterclient.ErrCircuitOpen) || took > connectTimeout/4 {
		t.Errorf("during the probe: Err() = %v after %v", s.Err(), took)
	}
	close(d.gate)
	ps := <-probe
	if ps.Err() != nil {
		t.Fatalf("probe: %v", ps.Err())
	}
	ps.Close(context.Background())
	for i := range 3 {
		s, _ := openSession(t, c)
		if v := s.Connect(context.Background(), sampleConn()); s.Err() != nil || v != filter.Continue {
			t.Errorf("after recovery, session %d: %v (%v)", i, v, s.Err())
		}
		s.Close(context.Background())
	}
	if infos := logs.at(slog.LevelInfo); !strings.Contains(strings.Join(infos, "\n"), "reachable again") {
		t.Errorf("no recovery logged:%s", lines(infos))
	}
}

// A refused connection counts too; with Failures 2 the third session does
// not dial.
func TestCircuitBreakerRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := inetAddr(l)
	l.Close() // nothing listens there now
	var dials atomic.Int32
	c := newClient(t, milterclient.Options{
		Address: addr, DefaultAction: milterclient.Accept,
		Dialer: dialFunc(func(ctx context.Context, n, a string) (net.Conn, error) {
			dials.Add(1)
			return (&net.Dialer{}).DialContext(ctx, n, a)
		}),
		Breaker: milterclient.BreakerOptions{Failures: 2, OpenFor: time.Hour},
	})
	for i := range 4 {
		s, _ := openSession(t, c)
		if v := s.Connect(context.Background(), sampleConn()); v != filter.Accept {
			t.Errorf("session %d: %v", i, v)
		}
		s.Close(context.Background())
	}
	if n := dials.Load(); n != 2 {
		t.Errorf("%d dials, want 2", n)
	}
}

type dialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

func (f dialFunc) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return f(ctx, network, addr)
}
