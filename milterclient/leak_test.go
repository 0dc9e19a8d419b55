package milterclient_test

import (
	"bytes"
	"context"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/filter"
	"github.com/sluice-mta/sluice/milter"
	"github.com/sluice-mta/sluice/milterclient"
	"github.com/sluice-mta/sluice/miltersrv"
)

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count file descriptors: %v", err)
	}
	return len(ents)
}

// No goroutine, file descriptor or temporary file outlives its session,
// whether the milter works, stalls, is down, or the caller gives up.
func TestNoLeaks(t *testing.T) {
	newBody := repeatBody(400 << 10) // spooled to a file
	rec := &recorder{needs: filter.Needs{Edits: filter.EditReplaceBody},
		eom: func(m *filter.Modifier) { must(t, m.ReplaceBody(bytes.NewReader(newBody))) }}
	good := serveFilter(t, rec, miltersrv.Options{})
	stall := startFake(t, func(c *fakeConn, _ int) {
		c.negotiate(0, 0)
		c.serveUntil(milter.CmdMail)
		c.drain()
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := inetAddr(l)
	l.Close()
	tmp := t.TempDir()
	clients := []*milterclient.Milter{
		newClient(t, milterclient.Options{Address: good, TempDir: tmp}),
		newClient(t, milterclient.Options{Address: stall.addr(), CommandTimeout: 30 * time.Millisecond}),
		newClient(t, milterclient.Options{Address: down, Breaker: milterclient.BreakerOptions{Failures: -1}}),
		newClient(t, milterclient.Options{Address: down, Breaker: milterclient.BreakerOptions{Failures: 1, OpenFor: time.Hour}}),
	}
	run := func(c *milterclient.Milter, cancel bool) {
		e := newEngine(t, c)
		if cancel {
			ctx, stop := context.WithCancel(context.Background())
			e.ctx = ctx
			time.AfterFunc(5*time.Millisecond, stop)
		}
		e.connect(sampleMessage())
		e.transaction(sampleMessage())
		e.transaction(sampleMessage())
		e.close()
	}
	run(clients[0], false) // warm up pools and the servers' first connections
	runtime.GC()
	// No garbage collection from here on: a connection left open must not
	// be rescued by its finalizer.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	goroutines, fds := runtime.NumGoroutine(), openFDs(t)

	for range 10 {
		for _, c := range clients {
			run(c, false)
		}
		run(clients[1], true)
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
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
		t.Errorf("%d files left in the temporary directory", len(ents))
	}
}
