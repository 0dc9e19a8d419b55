//go:build linux

package milterclientbench

// The milters under test, each in its own process: the libmilter C milter
// of bench/milter/addheader.c, or this test binary re-executed as sluice's
// milter server.

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
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

	"github.com/sluice-mta/sluice/filter"
	"github.com/sluice-mta/sluice/filter/headers"
	"github.com/sluice-mta/sluice/miltersrv"
)

const (
	// The field every milter under test adds at end of message, as in
	// sluice's default configuration and bench/milter/addheader.c.
	headerName  = "X-Filtered-By"
	headerValue = "sluice"

	// serverEnv, in a re-executed copy of the test binary, makes it serve
	// sluice's milter instead of running tests: "headers ADDRESS" (the
	// headers filter) or "body ADDRESS" (the same, also reading the body).
	serverEnv = "SLUICE_BENCH_MILTERSRV"
	// addheaderEnv names a prebuilt bench/milter/addheader program (run.sh
	// sets it so Postfix and the client drive the same binary); without
	// it the tests build one with cc.
	addheaderEnv = "SLUICE_BENCH_ADDHEADER"

	// ioTimeout bounds every wait.
	ioTimeout = 30 * time.Second
)

// Milter kinds.
const (
	kindLibmilter = "libmilter"
	kindMiltersrv = "miltersrv"
	kindBody      = "miltersrv-body"
)

func TestMain(m *testing.M) {
	if spec := os.Getenv(serverEnv); spec != "" {
		os.Exit(serveMilter(spec))
	}
	os.Exit(m.Run())
}

// bodyFilter is the headers filter that also takes the body, so the
// client sends it.
type bodyFilter struct{ *headers.Filter }

func (f bodyFilter) Needs() filter.Needs {
	n := f.Filter.Needs()
	n.Skip &^= filter.Stages(filter.StageBody)
	return n
}

// serveMilter is the child process: it serves sluice's milter on the
// address until its stdin closes.
func serveMilter(spec string) int {
	kind, addr, _ := strings.Cut(spec, " ")
	h, err := headers.New(headers.Options{Add: []headers.Header{{Name: headerName, Value: headerValue}}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var f filter.Filter = h
	if kind == "body" {
		f = bodyFilter{h}
	}
	l, err := miltersrv.Listen(addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	srv := miltersrv.New(f, miltersrv.Options{
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
		MaxConnections: 1000,
	})
	go srv.Serve(l)
	io.Copy(io.Discard, os.Stdin)
	srv.Close()
	return 0
}

// lockedBuffer collects a child's output.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// milterProc is a milter in a child process, stopped by its PID at the
// end of the test or benchmark that started it.
type milterProc struct {
	kind string
	addr string // milter address, as milterclient.Options.Address takes it
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan struct{}
}

// pid is the milter's process ID, for its CPU time.
func (p *milterProc) pid() int { return p.cmd.Process.Pid }

// startMilter starts a milter of the given kind on a new unix or inet
// (127.0.0.1) socket. addheader returns the C milter's program.
func startMilter(tb testing.TB, kind, socket string, addheader func() string) *milterProc {
	tb.Helper()
	p := &milterProc{kind: kind, addr: milterAddress(tb, socket), out: &lockedBuffer{}, done: make(chan struct{})}
	var stdin io.WriteCloser
	switch kind {
	case kindLibmilter:
		p.cmd = exec.Command(addheader(), p.addr)
	case kindMiltersrv, kindBody:
		p.cmd = exec.Command(os.Args[0], "-test.run=^$")
		mode := map[string]string{kindMiltersrv: "headers", kindBody: "body"}[kind]
		p.cmd.Env = append(os.Environ(), serverEnv+"="+mode+" "+p.addr)
		var err error
		if stdin, err = p.cmd.StdinPipe(); err != nil {
			tb.Fatal(err)
		}
	default:
		tb.Fatalf("unknown milter kind %q", kind)
	}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		tb.Fatalf("starting the %s milter: %v", kind, err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	tb.Cleanup(func() { p.stop(tb, stdin) })
	p.waitReady(tb)
	return p
}

// stop ends the milter by its PID: sluice's server when its stdin closes,
// the C milter with SIGKILL (libmilter notices SIGTERM only at its next
// 5-second poll, and the milter has nothing to save).
func (p *milterProc) stop(tb testing.TB, stdin io.Closer) {
	select {
	case <-p.done:
		tb.Errorf("the %s milter exited during the run:\n%s", p.kind, p.out)
		return
	default:
	}
	if stdin != nil {
		stdin.Close()
		select {
		case <-p.done:
			return
		case <-time.After(5 * time.Second):
		}
	}
	p.cmd.Process.Kill()
	<-p.done
}

func milterAddress(tb testing.TB, socket string) string {
	tb.Helper()
	switch socket {
	case "unix":
		// t.TempDir paths carry the test name and may exceed the 108
		// bytes of a socket path.
		dir, err := os.MkdirTemp("", "sluice-mcbench-")
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { os.RemoveAll(dir) })
		return "unix:" + filepath.Join(dir, "milter.sock")
	case "inet":
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		return fmt.Sprintf("inet:%d@127.0.0.1", port)
	}
	tb.Fatalf("unknown socket type %q", socket)
	return ""
}

// waitReady waits until the milter accepts connections.
func (p *milterProc) waitReady(tb testing.TB) {
	tb.Helper()
	network, address := "unix", strings.TrimPrefix(p.addr, "unix:")
	if strings.HasPrefix(p.addr, "inet:") {
		port, host, _ := strings.Cut(strings.TrimPrefix(p.addr, "inet:"), "@")
		network, address = "tcp", net.JoinHostPort(host, port)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout(network, address, time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-p.done:
			tb.Fatalf("the %s milter exited before listening on %s:\n%s", p.kind, p.addr, p.out)
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("the %s milter does not listen on %s after 10 s:\n%s", p.kind, p.addr, p.out)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// addheaderBuilder returns a function that yields the C milter's program:
// $SLUICE_BENCH_ADDHEADER, or bench/milter/addheader.c built into dir on
// first use. It skips the test or benchmark when cc or libmilter-dev is
// missing.
func addheaderBuilder(dir string) func(testing.TB) string {
	var bin string
	return func(tb testing.TB) string {
		tb.Helper()
		if bin != "" {
			return bin
		}
		if prebuilt := os.Getenv(addheaderEnv); prebuilt != "" {
			bin = prebuilt
			return bin
		}
		cc, err := exec.LookPath("cc")
		if err != nil {
			tb.Skip("no C compiler (cc) to build bench/milter/addheader.c: apt-get install gcc libmilter-dev")
		}
		out := filepath.Join(dir, "addheader")
		msg, err := exec.Command(cc, "-O2", "-o", out, filepath.Join("..", "milter", "addheader.c"), "-lmilter", "-pthread").CombinedOutput()
		if err != nil {
			if bytes.Contains(msg, []byte("mfapi.h")) || bytes.Contains(msg, []byte("-lmilter")) {
				tb.Skipf("libmilter-dev is not installed (apt-get install libmilter-dev):\n%s", msg)
			}
			tb.Fatalf("building addheader.c: %v\n%s", err, msg)
		}
		bin = out
		return bin
	}
}

// procCPU is the CPU time (user and system, all threads, exited ones too)
// that process pid has used, from /proc/PID/stat in clock ticks of 10 ms
// (Linux's USER_HZ is 100).
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("cannot parse /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:]) // state, ppid, ...: utime and stime are 12th and 13th
	if len(f) < 13 {
		return 0, fmt.Errorf("cannot parse /proc/%d/stat", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("cannot parse /proc/%d/stat", pid)
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}

// selfCPU is the CPU time this process has used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// discardLogger drops every record.
func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
