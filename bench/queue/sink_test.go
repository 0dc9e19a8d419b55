package queuebench

// A counting smtp-sink: test/peer's sink dumps every message to a file,
// which for 100 KiB messages would make the sink's disk writes part of the
// figure, so the benchmark runs smtp-sink itself, without a dump, with its
// running counters (-c) on standard output.

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/test/peer"
)

const (
	sinkStartTimeout = 30 * time.Second // until the sink answers EHLO
	sinkStopTimeout  = 10 * time.Second // after SIGTERM, then after SIGKILL
	sinkPoll         = 10 * time.Millisecond
	sinkStartTries   = 3 // fresh ports tried when the one picked was taken
)

// counters is one line of smtp-sink -c: sessions ended, QUIT commands,
// messages received (counted at the final dot).
type counters struct {
	sess, quit, mesg int
}

// parseCounters parses "sess=N quit=N mesg=N".
func parseCounters(line string) (counters, bool) {
	var c counters
	fields := strings.Fields(line)
	if len(fields) != 3 {
		return c, false
	}
	for i, dst := range []*int{&c.sess, &c.quit, &c.mesg} {
		name, val, ok := strings.Cut(fields[i], "=")
		if !ok || name != [...]string{"sess", "quit", "mesg"}[i] {
			return c, false
		}
		n, err := strconv.Atoi(val)
		if err != nil || n < 0 {
			return c, false
		}
		*dst = n
	}
	return c, true
}

// countingSink is an smtp-sink process that counts and discards.
type countingSink struct {
	addr string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited

	mu     sync.Mutex
	cur    counters     // the latest line
	stderr bytes.Buffer // what smtp-sink printed besides counters
}

// startSink starts smtp-sink on a free loopback port and stops it, by PID,
// when tb ends. It skips without smtp-sink and fails unless the sink
// answers EHLO advertising PIPELINING within a bounded time.
func startSink(tb testing.TB) *countingSink {
	tb.Helper()
	peer.Need(tb, "smtp-sink")
	program, err := sinkPath()
	if err != nil {
		tb.Fatal(err)
	}
	for try := 1; ; try++ {
		s := &countingSink{addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(peer.FreePort(tb)))}
		err := s.start(tb, program)
		if err == nil {
			return s
		}
		if try == sinkStartTries || !strings.Contains(s.errText(), "in use") {
			tb.Fatalf("smtp-sink on %s: %v\n%s", s.addr, err, s.errText())
		}
	}
}

// sinkPath finds smtp-sink in $PATH or /usr/sbin (where Debian installs it
// and where a non-login PATH may not look).
func sinkPath() (string, error) {
	if p, err := exec.LookPath("smtp-sink"); err == nil {
		return p, nil
	}
	return exec.LookPath(filepath.Join("/usr/sbin", "smtp-sink"))
}

func (s *countingSink) start(tb testing.TB, program string) error {
	args := []string{"-c", "-h", "sink.test"}
	if os.Geteuid() == 0 {
		args = append(args, "-u", "root") // smtp-sink refuses to run as root without -u
	}
	s.cmd = exec.Command(program, append(args, "inet:"+s.addr, "100")...)
	s.cmd.Stderr = &lockedWriter{mu: &s.mu, w: &s.stderr}
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := s.cmd.Start(); err != nil {
		return err
	}
	s.done = make(chan struct{})
	go s.readCounters(out)
	tb.Cleanup(func() { s.stop(tb) })
	deadline := time.Now().Add(sinkStartTimeout)
	for {
		err := s.probe()
		if err == nil {
			break
		}
		if s.exited() {
			return fmt.Errorf("exited before it answered: %v", err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no EHLO answer within %v: %v", sinkStartTimeout, err)
		}
		time.Sleep(sinkPoll)
	}
	// The probe's session is counted once it ends; wait for it so that the
	// counters are still while nobody sends.
	if _, ok := s.wait(func(c counters) bool { return c.sess >= 1 }, sinkStartTimeout); !ok {
		return fmt.Errorf("no counters on standard output within %v", sinkStartTimeout)
	}
	return nil
}

// probe greets the sink, checks that it offers PIPELINING and quits.
func (s *countingSink) probe() error {
	nc, err := net.DialTimeout("tcp", s.addr, time.Second)
	if err != nil {
		return err
	}
	defer nc.Close()
	if err := nc.SetDeadline(time.Now().Add(sinkStartTimeout)); err != nil {
		return err
	}
	c := textproto.NewConn(nc)
	if _, _, err := c.ReadResponse(220); err != nil {
		return err
	}
	id, err := c.Cmd("EHLO bench.test")
	if err != nil {
		return err
	}
	c.StartResponse(id)
	_, ext, err := c.ReadResponse(250)
	c.EndResponse(id)
	if err != nil {
		return err
	}
	if !strings.Contains(ext, "\nPIPELINING") {
		return fmt.Errorf("EHLO reply does not offer PIPELINING:\n%s", ext)
	}
	_, err = c.Cmd("QUIT")
	if err == nil {
		_, _, err = c.ReadResponse(221)
	}
	return err
}

// readCounters keeps the latest counters line; smtp-sink ends each with
// a CR.
func (s *countingSink) readCounters(r io.Reader) {
	defer close(s.done)
	sc := bufio.NewScanner(r)
	sc.Split(splitCR)
	for sc.Scan() {
		c, ok := parseCounters(sc.Text())
		s.mu.Lock()
		if ok {
			s.cur = c
		} else if len(sc.Bytes()) > 0 {
			fmt.Fprintf(&s.stderr, "stdout: %q\n", sc.Text())
		}
		s.mu.Unlock()
	}
	_ = s.cmd.Wait() // after the pipe is drained, as exec requires
}

// splitCR is bufio.ScanLines with CR as well as LF ending a line.
func splitCR(data []byte, atEOF bool) (int, []byte, error) {
	if i := bytes.IndexAny(data, "\r\n"); i >= 0 {
		return i + 1, data[:i], nil
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

// counters returns the latest counters.
func (s *countingSink) counters() counters {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur
}

// wait polls the counters until ok accepts them, up to timeout.
func (s *countingSink) wait(ok func(counters) bool, timeout time.Duration) (counters, bool) {
	deadline := time.Now().Add(timeout)
	for {
		c := s.counters()
		if ok(c) {
			return c, true
		}
		if time.Now().After(deadline) || s.exited() {
			return c, false
		}
		time.Sleep(sinkPoll)
	}
}

func (s *countingSink) errText() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stderr.String()
}

func (s *countingSink) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM to the sink's PID, then SIGKILL after a bounded wait.
func (s *countingSink) stop(tb testing.TB) {
	for _, sig := range []os.Signal{syscall.SIGTERM, os.Kill} {
		if s.exited() {
			return
		}
		_ = s.cmd.Process.Signal(sig)
		select {
		case <-s.done:
			return
		case <-time.After(sinkStopTimeout):
		}
	}
	tb.Errorf("smtp-sink pid %d did not exit", s.cmd.Process.Pid)
}

// lockedWriter serializes writes to w under mu.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
