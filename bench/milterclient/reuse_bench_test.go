//go:build linux

package milterclientbench

// Milter connection reuse across SMTP connections (milterclient
// Options.MaxIdleConns, SMFIC_QUIT_NC): SMTP connections per second, one
// message each, with and without reuse.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sluice-mta/sluice/milterclient"
)

// countingDialer counts the milter connections the client opens.
type countingDialer struct {
	d     net.Dialer
	dials atomic.Int64
}

func (d *countingDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	d.dials.Add(1)
	return d.d.DialContext(ctx, network, address)
}

// newReuseClient is newClient with connection reuse (maxIdle 0: none).
func newReuseClient(tb testing.TB, addr string, maxIdle int, d *countingDialer) *milterclient.Milter {
	tb.Helper()
	m, err := milterclient.New(milterclient.Options{
		Address:        addr,
		Logger:         discardLogger(),
		ConnectTimeout: ioTimeout,
		CommandTimeout: ioTimeout,
		EOMTimeout:     ioTimeout,
		TempDir:        tb.TempDir(),
		Breaker:        milterclient.BreakerOptions{Failures: -1},
		MaxIdleConns:   maxIdle,
		Dialer:         d,
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { m.Close() })
	return m
}

// Both milters under test support SMFIC_QUIT_NC after end of message:
// with reuse, ten SMTP connections, one message each, take one milter
// connection, and every message gets its one edit.
func TestReuseSessions(t *testing.T) {
	addheader := addheaderBuilder(t.TempDir())
	for _, kind := range []string{kindLibmilter, kindMiltersrv} {
		t.Run(kind, func(t *testing.T) {
			p := startMilter(t, kind, "unix", func() string { return addheader(t) })
			for _, maxIdle := range []int{0, 1} {
				d := &countingDialer{}
				c := newReuseClient(t, p.addr, maxIdle, d)
				drv := &driver{m: c, msg: newMessage(1 << 10), macros: newMacros()}
				for i := range 10 {
					if err := drv.send(context.Background()); err != nil {
						t.Fatalf("max idle %d, session %d: %v", maxIdle, i+1, err)
					}
				}
				drv.close()
				want := map[int]int64{0: 10, 1: 1}[maxIdle]
				if n := d.dials.Load(); n != want {
					t.Errorf("max idle %d: %d milter connections for 10 SMTP connections, want %d", maxIdle, n, want)
				}
			}
		})
	}
}

// BenchmarkSessions: one op is one SMTP connection carrying one 1 KiB
// message (connect, HELO, the message, quit), through 1 or 8 concurrent
// SMTP connections, with reuse off (a milter connection and option
// negotiation per SMTP connection) or on (MaxIdleConns = concurrency).
//
//	go test -run '^$' -bench Sessions -benchmem ./bench/milterclient/
func BenchmarkSessions(b *testing.B) {
	addheader := addheaderBuilder(b.TempDir())
	for _, kind := range []string{kindLibmilter, kindMiltersrv} {
		for _, socket := range []string{"unix", "inet"} {
			b.Run(fmt.Sprintf("target=%s/socket=%s", kind, socket), func(b *testing.B) {
				p := startMilter(b, kind, socket, func() string { return addheader(b) })
				for _, sessions := range envInts(b, sessionsEnv, []int{1, 8}) {
					for _, reuse := range []bool{false, true} {
						name := fmt.Sprintf("sessions=%d/reuse=%v", sessions, reuse)
						b.Run(name, func(b *testing.B) { runSessions(b, p, sessions, reuse) })
					}
				}
			})
		}
	}
}

func runSessions(b *testing.B, p *milterProc, sessions int, reuse bool) {
	d := &countingDialer{}
	c := newReuseClient(b, p.addr, map[bool]int{true: sessions}[reuse], d)
	msg := newMessage(1 << 10)
	var next atomic.Int64
	var once sync.Once
	var firstErr error
	worker := func() {
		drv := &driver{m: c, msg: msg, macros: newMacros()}
		defer drv.close()
		for next.Add(1) <= int64(b.N) {
			if err := drv.send(context.Background()); err != nil {
				once.Do(func() { firstErr = err })
				return
			}
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	for range sessions {
		wg.Go(worker)
	}
	wg.Wait()
	b.StopTimer()
	if err := errors.Join(firstErr); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sessions/s")
	b.ReportMetric(float64(d.dials.Load())/float64(b.N), "dials/session")
}
