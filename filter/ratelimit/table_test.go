package ratelimit

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/filter"
)

// addrN returns the n-th distinct client: IPv4 below 1<<24, else IPv6
// /64 networks.
func addrN(n int) netip.Addr {
	if n < 1<<24 {
		return netip.AddrFrom4([4]byte{10, byte(n >> 16), byte(n >> 8), byte(n)})
	}
	var b [16]byte
	b[0], b[1] = 0x20, 0x01
	binary.BigEndian.PutUint64(b[:8], 0x2001_0db8_0000_0000|uint64(n))
	b[15] = 1
	return netip.AddrFrom16(b)
}

// TestMaxClients proves the memory bound: however many distinct clients
// come, the table never tracks more than MaxClients, and fills to it.
func TestMaxClients(t *testing.T) {
	for _, max := range []int{1, 7, 100, 513, 5000} {
		t.Run(fmt.Sprint(max), func(t *testing.T) {
			f := mustNew(t, Options{Connections: 1, MaxClients: max, ExemptNetworks: []netip.Prefix{}})
			capacity := 0
			for i := range f.table.shards {
				capacity += f.table.shards[i].limit
			}
			if capacity != max {
				t.Fatalf("shard limits add up to %d, want %d", capacity, max)
			}
			for i := range 10 * max {
				for _, a := range []netip.Addr{addrN(i), addrN(1<<24 + i)} {
					s, _ := f.NewSession(t.Context(), filter.NoMacros)
					s.Connect(t.Context(), &envelope.Conn{ClientAddr: netip.AddrPortFrom(a, 25)})
				}
				if n := f.Tracked(); n > max {
					t.Fatalf("after %d clients: %d tracked, over MaxClients %d", 2*(i+1), n, max)
				}
			}
			if n := f.Tracked(); n != max {
				t.Errorf("%d tracked after %d clients, want MaxClients %d", n, 20*max, max)
			}
			for i := range f.table.shards {
				if s := &f.table.shards[i]; len(s.ents) > s.limit || cap(s.ents) > 2*s.limit+4 {
					t.Errorf("shard %d holds %d entries (capacity %d), limit %d", i, len(s.ents), cap(s.ents), s.limit)
				}
			}
		})
	}
}

// TestLRU: a full table forgets its least recently seen client, and only
// it: a client seen again, even refused, stays tracked and limited.
func TestLRU(t *testing.T) {
	clk := newClock()
	f := mustNew(t, Options{Connections: 1, Window: time.Hour, MaxClients: 2, Now: clk.Now, ExemptNetworks: []netip.Prefix{}})
	const a, b, c = "192.0.2.1", "192.0.2.2", "192.0.2.3"
	run(t, f, clk, []step{
		{0, a, cn, cont}, {0, b, cn, cont},
		{0, a, cn, refusedConn(a)}, // a is now the most recently seen
		{0, c, cn, cont},           // b is forgotten
		{0, a, cn, refusedConn(a)},
		{0, b, cn, cont}, // b starts afresh; c is forgotten
		{0, a, cn, refusedConn(a)},
		{0, c, cn, cont},
	}, filter.NoMacros)
	if n := f.Tracked(); n != 2 {
		t.Errorf("Tracked() = %d, want 2", n)
	}
}

// TestConcurrent: many sessions of one client at once get exactly the
// configured count through, and distinct clients do not disturb it.
func TestConcurrent(t *testing.T) {
	const limit, workers, each = 50, 8, 40
	clk := newClock()
	f := mustNew(t, Options{Messages: limit, Window: time.Hour, MaxClients: 1000, Now: clk.Now, ExemptNetworks: []netip.Prefix{}})
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			ctx := context.Background()
			s, _ := f.NewSession(ctx, filter.NoMacros)
			s.Connect(ctx, &envelope.Conn{ClientAddr: netip.MustParseAddrPort("[2001:db8::1]:25")})
			other, _ := f.NewSession(ctx, filter.NoMacros)
			other.Connect(ctx, &envelope.Conn{ClientAddr: netip.AddrPortFrom(addrN(w), 25)})
			for range each {
				if v := s.Mail(ctx, envelope.Address{}); v.Action == filter.ActionContinue {
					allowed.Add(1)
				}
				other.Mail(ctx, envelope.Address{})
			}
		})
	}
	wg.Wait()
	if got := allowed.Load(); got != limit {
		t.Errorf("%d messages allowed, want %d", got, limit)
	}
}

// BenchmarkCheck measures one MAIL check: one client (one lock, a hit),
// and many clients in parallel (the shards' locks, LRU moves, evictions).
func BenchmarkCheck(b *testing.B) {
	ctx := context.Background()
	b.Run("one_client", func(b *testing.B) {
		f, _ := New(Options{Messages: 1 << 30, Window: time.Hour})
		s, _ := f.NewSession(ctx, filter.NoMacros)
		s.Connect(ctx, &envelope.Conn{ClientAddr: netip.MustParseAddrPort("192.0.2.1:25")})
		b.ReportAllocs()
		for b.Loop() {
			s.Mail(ctx, envelope.Address{})
		}
	})
	b.Run("parallel_distinct_clients", func(b *testing.B) {
		f, _ := New(Options{Messages: 1 << 30, Window: time.Hour})
		var next atomic.Int64
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			s, _ := f.NewSession(ctx, filter.NoMacros)
			s.Connect(ctx, &envelope.Conn{ClientAddr: netip.AddrPortFrom(addrN(int(next.Add(1))), 25)})
			for pb.Next() {
				s.Mail(ctx, envelope.Address{})
			}
		})
	})
	b.Run("new_client_evicting", func(b *testing.B) {
		f, _ := New(Options{Connections: 1 << 30, Window: time.Hour, MaxClients: 1000})
		conns := make([]envelope.Conn, 100000)
		for i := range conns {
			conns[i].ClientAddr = netip.AddrPortFrom(addrN(i), 25)
		}
		s, _ := f.NewSession(ctx, filter.NoMacros)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			s.Connect(ctx, &conns[i%len(conns)])
			i++
		}
	})
}
