//go:build linux

package bench

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/milter"
)

// BenchmarkIdleConnections starts the idle server (bench/idle) in a child
// process, opens SLUICE_BENCH_IDLE_CONNS (default 10,000) MTA connections
// to it, each past option negotiation, and reports the child's VmRSS while
// they sit idle: MiB-RSS (highest sample), KiB/conn (above the RSS before
// the connections), and the Go heap and stacks in use. The function runs
// once per -count; its loop only samples VmRSS every 10ms for -benchtime,
// so ns/op is the sampling period. The goal is under 200 MiB for 10,000
// connections.
func BenchmarkIdleConnections(b *testing.B) {
	n := idleConnCount(b)
	needNoFile(b, n+256)
	bin := buildIdle(b)
	for _, network := range []string{"unix", "tcp"} {
		b.Run(network, func(b *testing.B) { benchIdle(b, bin, network, n) })
	}
}

func benchIdle(b *testing.B, bin, network string, n int) {
	child := startIdle(b, bin, network, n)
	base, err := readRSS(child.pid)
	if err != nil {
		b.Fatal(err)
	}
	conns, err := openIdle(network, child.addr, n)
	defer closeAll(conns)
	if err != nil {
		b.Fatalf("opening %d connections: %v", n, err)
	}
	st := child.stats(b)
	if st.Connections != n {
		b.Fatalf("server holds %d connections, want %d", st.Connections, n)
	}
	var peak uint64
	for b.Loop() {
		rss, err := readRSS(child.pid)
		if err != nil {
			b.Fatal(err)
		}
		peak = max(peak, rss)
		time.Sleep(10 * time.Millisecond)
	}
	st = child.stats(b)
	b.ReportMetric(float64(peak)/(1<<20), "MiB-RSS")
	b.ReportMetric(float64(peak-min(base, peak))/1024/float64(n), "KiB/conn")
	b.ReportMetric(float64(st.HeapInuse)/(1<<20), "MiB-heap")
	b.ReportMetric(float64(st.StackInuse)/(1<<20), "MiB-stack")
}

// TestIdleServer runs the idle server with a few connections, so the
// benchmark's child process and its reports are known to work.
func TestIdleServer(t *testing.T) {
	if testing.Short() {
		t.Skip("builds bench/idle")
	}
	const n = 20
	bin := buildIdle(t)
	for _, network := range []string{"unix", "tcp"} {
		t.Run(network, func(t *testing.T) {
			child := startIdle(t, bin, network, n)
			conns, err := openIdle(network, child.addr, n)
			defer closeAll(conns)
			if err != nil {
				t.Fatal(err)
			}
			st := child.stats(t)
			if st.Connections != n || st.PID != child.pid {
				t.Errorf("stats = %+v, want %d connections and pid %d", st, n, child.pid)
			}
			if rss, err := readRSS(child.pid); err != nil || rss < 1<<20 {
				t.Errorf("VmRSS = %d bytes, %v; want at least 1 MiB", rss, err)
			}
			heap := filepath.Join(t.TempDir(), "heap.pprof")
			if got := child.command(t, "heap "+heap); got != "ok" {
				t.Errorf("heap command answered %q", got)
			}
			if fi, err := os.Stat(heap); err != nil || fi.Size() == 0 {
				t.Errorf("heap profile: %v", err)
			}
		})
	}
}

func idleConnCount(tb testing.TB) int {
	s := os.Getenv("SLUICE_BENCH_IDLE_CONNS")
	if s == "" {
		return 10000
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		tb.Fatalf("SLUICE_BENCH_IDLE_CONNS=%q: want a positive number", s)
	}
	return n
}

// needNoFile raises this process's soft RLIMIT_NOFILE to hold need
// descriptors, or skips when the hard limit is lower. The child raises its
// own (bench/idle).
func needNoFile(tb testing.TB, need int) {
	tb.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		tb.Fatal(err)
	}
	if lim.Max < uint64(need) {
		tb.Skipf("RLIMIT_NOFILE hard limit is %d, below the %d descriptors needed; raise it (ulimit -Hn) or lower SLUICE_BENCH_IDLE_CONNS", lim.Max, need)
	}
	if lim.Cur < uint64(need) {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			tb.Fatal(err)
		}
	}
}

// buildIdle builds bench/idle into a temporary directory.
func buildIdle(tb testing.TB) string {
	tb.Helper()
	gocmd, err := exec.LookPath("go")
	if err != nil {
		tb.Skip("the go command is not on PATH; it builds bench/idle")
	}
	bin := filepath.Join(tb.TempDir(), "idle")
	cmd := exec.Command(gocmd, "build", "-o", bin, "./idle")
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("go build ./idle: %v\n%s", err, out)
	}
	return bin
}

// idleChild is a running bench/idle process.
type idleChild struct {
	pid   int
	addr  string // for net.Dial
	stdin io.WriteCloser
	lines chan string // its stdout
}

// startIdle starts bin listening on network, stopped at the end of tb.
func startIdle(tb testing.TB, bin, network string, n int) *idleChild {
	tb.Helper()
	listen := "inet:0@127.0.0.1"
	if network == "unix" {
		listen = "unix:" + shortSocketPath(tb)
	}
	cmd := exec.Command(bin, "-listen", listen, "-max-connections", strconv.Itoa(n+100))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	c := &idleChild{pid: cmd.Process.Pid, stdin: stdin, lines: make(chan string, 16)}
	go func() {
		defer close(c.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
	}()
	tb.Cleanup(func() { stopIdle(tb, cmd, stdin, &stderr) })
	first, err := c.line()
	addr, ok := strings.CutPrefix(first, "listening ")
	if err != nil || !ok {
		tb.Fatalf("idle server: first line %q, %v", first, err)
	}
	c.addr = addr
	return c
}

// stopIdle ends the child's stdin, so it closes its server and exits, and
// kills it (by its PID) if it has not within ioTimeout.
func stopIdle(tb testing.TB, cmd *exec.Cmd, stdin io.Closer, stderr *bytes.Buffer) {
	stdin.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			tb.Errorf("idle server: %v\n%s", err, stderr.Bytes())
		}
	case <-time.After(ioTimeout):
		cmd.Process.Kill()
		<-done
		tb.Errorf("idle server did not exit; killed it")
	}
}

func (c *idleChild) line() (string, error) {
	select {
	case l, ok := <-c.lines:
		if !ok {
			return "", errors.New("idle server closed its stdout")
		}
		return l, nil
	case <-time.After(ioTimeout):
		return "", errors.New("idle server did not answer")
	}
}

// idleStats mirrors the JSON the idle server prints for "stats".
type idleStats struct {
	PID         int    `json:"pid"`
	Connections int    `json:"connections"`
	Goroutines  int    `json:"goroutines"`
	HeapInuse   uint64 `json:"heap_inuse"`
	StackInuse  uint64 `json:"stack_inuse"`
	Sys         uint64 `json:"sys"`
}

// command sends one command line and returns the answer line.
func (c *idleChild) command(tb testing.TB, cmd string) string {
	tb.Helper()
	if _, err := io.WriteString(c.stdin, cmd+"\n"); err != nil {
		tb.Fatal(err)
	}
	l, err := c.line()
	if err != nil {
		tb.Fatalf("idle server, command %q: %v", cmd, err)
	}
	return l
}

func (c *idleChild) stats(tb testing.TB) idleStats {
	tb.Helper()
	l := c.command(tb, "stats")
	var st idleStats
	if err := json.Unmarshal([]byte(l), &st); err != nil {
		tb.Fatalf("idle server stats %q: %v", l, err)
	}
	return st
}

// readRSS returns VmRSS of process pid, in bytes.
func readRSS(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		rest, ok := strings.CutPrefix(line, "VmRSS:")
		if !ok {
			continue
		}
		kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("VmRSS line %q: %w", line, err)
		}
		return kb * 1024, nil
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// openIdle opens n connections and negotiates on each, with a few dialers
// at a time so the listen backlog is not overrun. It returns the
// connections opened so far with the first error.
func openIdle(network, addr string, n int) ([]net.Conn, error) {
	const dialers = 32
	conns := make([]net.Conn, n)
	jobs := make(chan int)
	errs := make(chan error, dialers)
	var wg sync.WaitGroup
	for range dialers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				c, err := dialNegotiated(network, addr)
				if err != nil {
					errs <- err
					for range jobs {
					}
					return
				}
				conns[i] = c
			}
		}()
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	close(errs)
	return conns, <-errs
}

// dialNegotiated dials, retrying while a unix socket's backlog is full,
// and negotiates; the connection is then left idle.
func dialNegotiated(network, addr string) (net.Conn, error) {
	var nc net.Conn
	var err error
	for try := 0; try < 200; try++ {
		nc, err = net.DialTimeout(network, addr, ioTimeout)
		if !errors.Is(err, syscall.EAGAIN) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err != nil {
		return nil, err
	}
	m := &mta{nc: nc, r: milter.NewReader(nc, milter.DefaultMaxPacket)}
	if err := m.negotiate(); err != nil {
		nc.Close()
		return nil, err
	}
	nc.SetDeadline(time.Time{})
	return nc, nil
}

func closeAll(conns []net.Conn) {
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
}
