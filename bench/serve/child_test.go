//go:build linux

package servebench

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// serveOptions are the keys of the child's configuration that vary.
type serveOptions struct {
	downstream string // host:port of the sink
	maxConns   int    // max_connections and max_connections_per_ip; 0: defaults
	maxSize    int64  // max_message_size in bytes; 0: default
}

// child is a running `sluice serve`.
type child struct {
	pid  int
	addr string // the listener, host:port
	log  string // its stderr
	done chan struct{}
}

// buildSluice builds cmd/sluice into a temporary directory.
func buildSluice(tb testing.TB) string {
	tb.Helper()
	gocmd, err := exec.LookPath("go")
	if err != nil {
		tb.Skip("the go command is not on PATH; it builds cmd/sluice")
	}
	bin := filepath.Join(tb.TempDir(), "sluice")
	cmd := exec.Command(gocmd, "build", "-o", bin, "github.com/sluice-mta/sluice/cmd/sluice")
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("go build ./cmd/sluice: %v\n%s", err, out)
	}
	return bin
}

// writeConfig writes the child's configuration into dir: a loopback
// listener on a port the kernel picks, the queue under dir, the default
// filter set (headers: X-Filtered-By: sluice), plain SMTP downstream.
func writeConfig(dir string, o serveOptions) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "hostname = %q\ndata_dir = %q\n\n", "bench.localhost", filepath.Join(dir, "data"))
	b.WriteString("[smtp]\nlisten = [\"127.0.0.1:0\"]\n")
	if o.maxConns > 0 {
		fmt.Fprintf(&b, "max_connections = %d\nmax_connections_per_ip = %d\n", o.maxConns, o.maxConns)
	}
	if o.maxSize > 0 {
		fmt.Fprintf(&b, "max_message_size = %d\n", o.maxSize)
	}
	fmt.Fprintf(&b, "\n[queue]\ndir = %q\n", filepath.Join(dir, "queue"))
	fmt.Fprintf(&b, "\n[downstream]\naddress = %q\ntls = \"none\"\nxclient = false\nxforward = false\n",
		"smtp://"+o.downstream)
	path := filepath.Join(dir, "sluice.toml")
	return path, os.WriteFile(path, []byte(b.String()), 0o644)
}

// startServe starts `sluice serve` and waits (10 s at most) for its
// listener. The child is stopped (SIGTERM, then SIGKILL after 10 s) when
// the test ends.
func startServe(tb testing.TB, bin string, o serveOptions) *child {
	tb.Helper()
	dir := tb.TempDir()
	cfg, err := writeConfig(dir, o)
	if err != nil {
		tb.Fatal(err)
	}
	logPath := filepath.Join(dir, "sluice.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		tb.Fatal(err)
	}
	defer logFile.Close()
	cmd := exec.Command(bin, "serve", "--config", cfg)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	c := &child{pid: cmd.Process.Pid, log: logPath, done: make(chan struct{})}
	go func() { cmd.Wait(); close(c.done) }()
	tb.Cleanup(func() { c.stop(tb) })
	if c.addr, err = c.waitListening(10 * time.Second); err != nil {
		tb.Fatalf("sluice serve: %v\n%s", err, c.logTail())
	}
	return c
}

var listenLine = regexp.MustCompile(`msg="sluice serve listening" listen=(\S+)`)

// waitListening polls the child's log for the line naming its listener.
func (c *child) waitListening(limit time.Duration) (string, error) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		data, err := os.ReadFile(c.log)
		if err != nil {
			return "", err
		}
		if m := listenLine.FindSubmatch(data); m != nil {
			return string(m[1]), nil
		}
		select {
		case <-c.done:
			return "", errors.New("exited before listening")
		case <-time.After(20 * time.Millisecond):
		}
	}
	return "", fmt.Errorf("not listening after %v", limit)
}

func (c *child) stop(tb testing.TB) {
	select {
	case <-c.done:
		return
	default:
	}
	syscall.Kill(c.pid, syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		tb.Errorf("sluice serve (pid %d) still running 10 s after SIGTERM; killing it", c.pid)
		syscall.Kill(c.pid, syscall.SIGKILL)
		<-c.done
	}
}

// logTail returns the last 20 lines of the child's log.
func (c *child) logTail() string {
	data, _ := os.ReadFile(c.log)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-20):], "\n")
}

// procStatus returns a "kB" field of /proc/PID/status (VmRSS, VmHWM) in
// bytes.
func procStatus(pid int, field string) (uint64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != field {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("/proc/%d/status: bad %s line %q", pid, field, sc.Text())
		}
		n, err := strconv.ParseUint(f[0], 10, 64)
		return n * 1024, err
	}
	return 0, fmt.Errorf("/proc/%d/status has no %s", pid, field)
}

// needNoFile raises this process's soft RLIMIT_NOFILE to hold need
// descriptors, or skips when the hard limit is lower. The child, a Go
// program, raises its own soft limit to the hard limit it inherits.
func needNoFile(tb testing.TB, need int) {
	tb.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		tb.Fatal(err)
	}
	if lim.Max < uint64(need) {
		tb.Skipf("RLIMIT_NOFILE hard limit is %d, below the %d descriptors needed; raise it (ulimit -Hn) or lower SLUICE_BENCH_SERVE_CONNS", lim.Max, need)
	}
	if lim.Cur < uint64(need) {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			tb.Fatal(err)
		}
	}
}
