//go:build linux

package servebench

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkIdleConnections reports the resident memory `sluice serve`
// spends per idle SMTP connection: for each N in SLUICE_BENCH_SERVE_CONNS
// (default "1000 5000") a fresh child gets N connections, each past its
// greeting, and the benchmark samples VmRSS every 10 ms for -benchtime
// (so ns/op is the sampling period). Metrics: KiB/conn (peak minus the
// VmRSS before, over N), MiB-RSS (peak), MiB-RSS-base (before).
func BenchmarkIdleConnections(b *testing.B) {
	counts := envInts(b, "SLUICE_BENCH_SERVE_CONNS", []int{1000, 5000})
	bin := buildSluice(b)
	for _, n := range counts {
		b.Run(fmt.Sprintf("conns=%d", n), func(b *testing.B) { benchIdle(b, bin, n) })
	}
}

func benchIdle(b *testing.B, bin string, n int) {
	needNoFile(b, n+256)
	sk := newSink(b)
	srv := startServe(b, bin, serveOptions{downstream: sk.addr(), maxConns: n + 16})
	base, err := baseRSS(srv)
	if err != nil {
		b.Fatal(err)
	}
	conns, err := openIdle(srv.addr, n)
	defer closeAll(conns)
	if err != nil {
		b.Fatalf("opening %d idle connections: %v\n%s", n, err, srv.logTail())
	}
	var peak uint64
	for b.Loop() {
		rss, err := procStatus(srv.pid, "VmRSS")
		if err != nil {
			b.Fatal(err)
		}
		peak = max(peak, rss)
		time.Sleep(10 * time.Millisecond)
	}
	b.ReportMetric(float64(peak-min(base, peak))/1024/float64(n), "KiB/conn")
	b.ReportMetric(float64(peak)/(1<<20), "MiB-RSS")
	b.ReportMetric(float64(base)/(1<<20), "MiB-RSS-base")
}

// BenchmarkMessage sends one message of SLUICE_BENCH_SERVE_MSG_MIB MiB
// (default 100) per iteration and reports the child's VmHWM when the 250
// reply arrives (MiB-HWM-250) and after the sink has received the message
// (MiB-HWM), with VmRSS before the first message (MiB-RSS-base). Every
// delivered message is checked.
func BenchmarkMessage(b *testing.B) {
	mib := envInts(b, "SLUICE_BENCH_SERVE_MSG_MIB", []int{100})
	bin := buildSluice(b)
	for _, m := range mib {
		b.Run(fmt.Sprintf("MiB=%d", m), func(b *testing.B) { benchMessage(b, bin, int64(m)<<20) })
	}
}

func benchMessage(b *testing.B, bin string, size int64) {
	sk := newSink(b)
	srv := startServe(b, bin, serveOptions{downstream: sk.addr(), maxSize: 2 * size})
	base, err := baseRSS(srv)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(size)
	var sent int
	var hwm250 uint64
	for b.Loop() {
		if err := sendChecked(srv, sk, size, &sent, &hwm250); err != nil {
			b.Fatalf("%v\n%s", err, srv.logTail())
		}
	}
	hwm, err := procStatus(srv.pid, "VmHWM")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(hwm250)/(1<<20), "MiB-HWM-250")
	b.ReportMetric(float64(hwm)/(1<<20), "MiB-HWM")
	b.ReportMetric(float64(base)/(1<<20), "MiB-RSS-base")
}

// sendChecked sends one message of size bytes, records VmHWM at the 250
// reply, waits for the sink to have it and checks what arrived.
func sendChecked(srv *child, sk *sink, size int64, sent *int, hwm250 *uint64) error {
	cl, err := dialClient(srv.addr)
	if err != nil {
		return err
	}
	defer cl.quit()
	r, sum, n, err := cl.send(size)
	if err != nil {
		return fmt.Errorf("sending %d bytes: %w", size, err)
	}
	if !strings.HasPrefix(r, "250 2.0.0 Ok: queued as ") {
		return fmt.Errorf("end of data answered %q", r)
	}
	hwm, err := procStatus(srv.pid, "VmHWM")
	if err != nil {
		return err
	}
	*hwm250 = max(*hwm250, hwm)
	*sent++
	msgs, err := sk.wait(*sent, 5*time.Minute)
	if err != nil {
		return err
	}
	return checkDelivered(msgs[*sent-1], sum, n)
}

// checkDelivered: the body arrived byte for byte and the header section
// gained the headers filter's field.
func checkDelivered(m received, sum [32]byte, n int64) error {
	if m.bodyLen != n || m.bodySum != sum {
		return fmt.Errorf("the sink got a body of %d bytes (sha256 %x), sent %d (sha256 %x)", m.bodyLen, m.bodySum, n, sum)
	}
	for _, f := range []string{"Subject: bench\r\n", "X-Filtered-By: sluice\r\n"} {
		if !strings.Contains(m.header, f) {
			return fmt.Errorf("the delivered header section lacks %q:\n%s", f, m.header)
		}
	}
	return nil
}

// baseRSS opens and closes one connection (so the first session's
// one-time allocations are in the base), then reads VmRSS.
func baseRSS(srv *child) (uint64, error) {
	c, err := dialIdle(srv.addr, 10*time.Second)
	if err != nil {
		return 0, err
	}
	c.Close()
	time.Sleep(200 * time.Millisecond)
	return procStatus(srv.pid, "VmRSS")
}

// openIdle opens n connections one after another, each past the greeting.
func openIdle(addr string, n int) ([]net.Conn, error) {
	conns := make([]net.Conn, 0, n)
	for i := range n {
		c, err := dialIdle(addr, 10*time.Second)
		if err != nil {
			return conns, fmt.Errorf("connection %d: %w", i+1, err)
		}
		conns = append(conns, c)
	}
	return conns, nil
}

func closeAll(conns []net.Conn) {
	for _, c := range conns {
		c.Close()
	}
}

// envInts reads a space-separated list of positive numbers, or returns def.
func envInts(tb testing.TB, name string, def []int) []int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	var out []int
	for _, f := range strings.Fields(s) {
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			tb.Fatalf("%s=%q: want positive numbers separated by spaces", name, s)
		}
		out = append(out, n)
	}
	return out
}
