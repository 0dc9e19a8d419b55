package peer

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startTimeout bounds how long a peer may take to accept connections.
const startTimeout = 60 * time.Second

// stopTimeout bounds how long a peer may take to exit once told to.
const stopTimeout = 20 * time.Second

// startAttempts is how often a Start function tries a fresh port when the
// one it picked was taken in the meantime.
const startAttempts = 3

// SinkOptions configure StartSink. The zero value is a plain SMTP sink on a
// free 127.0.0.1 port.
type SinkOptions struct {
	ListenAddr string   // host:port; default 127.0.0.1 and a free port
	Hostname   string   // -h: greeting and EHLO name; default "sink.test"
	Flags      []string // extra smtp-sink flags, e.g. "-L" (LMTP), "-f", "RCPT" (reject RCPT), "-Q", "DATA"
}

// Sink is a running smtp-sink that dumps each transaction it completes into
// Dir, one file per message.
type Sink struct {
	Addr string // host:port it listens on
	Host string
	Port int
	Dir  string // dump directory

	log  string // smtp-sink's standard output and error
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
}

// StartSink starts smtp-sink for the test and stops it, by PID, when the
// test ends. It fails the test, with the sink's output, if the sink does
// not listen within a bounded time; the output is also printed when the
// test fails later. Flags that change the dump (-d, -D, -S) are not
// supported.
func StartSink(t testing.TB, opts SinkOptions) *Sink {
	t.Helper()
	program := mustLookPath(t, "smtp-sink")
	if opts.Hostname == "" {
		opts.Hostname = "sink.test"
	}
	// Not t.TempDir: a test name may hold '%', which smtp-sink expands.
	dir, err := os.MkdirTemp("", "peer-sink-")
	if err != nil {
		t.Fatalf("peer: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) }) // runs after the stop below
	s := &Sink{Dir: filepath.Join(dir, "dump"), log: filepath.Join(dir, "smtp-sink.log")}
	if strings.Contains(s.Dir, "%") {
		t.Fatalf("peer: sink directory %q holds %%, which smtp-sink would expand", s.Dir)
	}
	if err := os.Mkdir(s.Dir, 0o755); err != nil {
		t.Fatalf("peer: %v", err)
	}
	for attempt := 1; ; attempt++ {
		addr := opts.ListenAddr
		if addr == "" {
			addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(t)))
		}
		err := s.start(t, program, addr, opts)
		if err == nil {
			return s
		}
		if opts.ListenAddr != "" || attempt == startAttempts || !strings.Contains(s.Log(), "in use") {
			t.Fatalf("peer: smtp-sink on %s: %v\n%s", addr, err, s.Log())
		}
	}
}

// start runs smtp-sink on addr and waits until it listens.
func (s *Sink) start(t testing.TB, program, addr string, opts SinkOptions) error {
	host, port, err := splitHostPort(addr)
	if err != nil {
		return err
	}
	s.Addr, s.Host, s.Port = addr, host, port
	logFile, err := os.Create(s.log)
	if err != nil {
		return err
	}
	defer logFile.Close()
	args := slices.Clone(opts.Flags)
	args = append(args, "-h", opts.Hostname, "-d", filepath.Join(s.Dir, "%Y%m%d%H%M%S."))
	if os.Geteuid() == 0 && !slices.Contains(opts.Flags, "-u") {
		args = append(args, "-u", "root") // required when started as root
	}
	args = append(args, "inet:"+addr, "100")
	s.cmd = exec.Command(program, args...)
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	if err := s.cmd.Start(); err != nil {
		return err
	}
	s.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) {
		_ = cmd.Wait()
		close(done)
	}(s.cmd, s.done)
	var up bool
	waitFor(startTimeout, func() bool {
		up = listens(s.cmd.Process.Pid, host, port)
		return up || s.exited()
	})
	if !up {
		if s.exited() {
			return errors.New("exited before it listened")
		}
		s.stop(t)
		return fmt.Errorf("not listening within %v", startTimeout)
	}
	t.Cleanup(func() {
		s.stop(t)
		if t.Failed() {
			t.Logf("peer: smtp-sink %s output:\n%s", s.Addr, s.Log())
		}
	})
	return nil
}

// exited reports whether the smtp-sink process has ended.
func (s *Sink) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// stop ends the process: SIGTERM, then SIGKILL after a bounded wait.
func (s *Sink) stop(t testing.TB) {
	if s.exited() {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
		return
	case <-time.After(stopTimeout):
	}
	t.Logf("peer: smtp-sink pid %d ignored SIGTERM; killing it", s.cmd.Process.Pid)
	_ = s.cmd.Process.Kill()
	select {
	case <-s.done:
	case <-time.After(stopTimeout):
		t.Errorf("peer: smtp-sink pid %d did not exit", s.cmd.Process.Pid)
	}
}

// Log returns what smtp-sink printed.
func (s *Sink) Log() string {
	b, _ := os.ReadFile(s.log)
	return string(b)
}

// Messages returns the messages the sink has completed, oldest first. A
// transaction still in progress (its dump file still open) is left out.
func (s *Sink) Messages(t testing.TB) []Message {
	t.Helper()
	msgs, err := s.messages()
	if err != nil {
		t.Fatalf("peer: smtp-sink %s: %v", s.Addr, err)
	}
	return msgs
}

// WaitMessages waits until the sink has completed at least n messages and
// returns them all; it fails the test after timeout.
func (s *Sink) WaitMessages(t testing.TB, n int, timeout time.Duration) []Message {
	t.Helper()
	var msgs []Message
	var err error
	ok := waitFor(timeout, func() bool {
		msgs, err = s.messages()
		return err != nil || len(msgs) >= n
	})
	if err != nil {
		t.Fatalf("peer: smtp-sink %s: %v", s.Addr, err)
	}
	if !ok {
		t.Fatalf("peer: smtp-sink %s: %d of %d messages after %v", s.Addr, len(msgs), n, timeout)
	}
	return msgs
}

// messages reads and parses the completed dump files. It lists the
// directory before it looks at the open files, so a file that is closed
// by then is complete and one opened later is not in the list.
func (s *Sink) messages() ([]Message, error) {
	entries, err := os.ReadDir(s.Dir)
	if err != nil {
		return nil, err
	}
	open := openFiles(s.cmd.Process.Pid)
	type dump struct {
		path string
		mod  time.Time
	}
	var dumps []dump
	for _, e := range entries {
		path := filepath.Join(s.Dir, e.Name())
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() || open[path] {
			continue // removed (RSET) since listing, or still being written
		}
		dumps = append(dumps, dump{path, info.ModTime()})
	}
	slices.SortFunc(dumps, func(a, b dump) int {
		if c := a.mod.Compare(b.mod); c != 0 {
			return c
		}
		return strings.Compare(a.path, b.path)
	})
	msgs := make([]Message, 0, len(dumps))
	for _, d := range dumps {
		raw, err := os.ReadFile(d.path)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		m, err := parseDump(raw)
		if err != nil {
			return nil, fmt.Errorf("dump %s: %w", d.path, err)
		}
		m.Path = d.path
		msgs = append(msgs, m)
	}
	return msgs, nil
}
