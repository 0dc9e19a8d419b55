package test

import (
	"context"
	"errors"
	"fmt"
	"github.com/sluice-mta/sluice/queue"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/test/peer"
)

const (
	// svHost is sluice's hostname in every configuration: greeting,
	// Received field, EHLO reply.
	svHost = "sluice.test"
	// svWait bounds every wait for a delivery, a log line or a reply.
	svWait = time.Minute
	// svStartTimeout bounds the wait for sluice serve to listen.
	svStartTimeout = 30 * time.Second
	// svStopTimeout bounds the wait for sluice serve to exit after
	// SIGTERM or SIGKILL; the configured shutdown_timeout is below it.
	svStopTimeout = 20 * time.Second
	// svListening is what sluice serve logs once its listener is bound.
	svListening = "sluice serve listening"
)

// TestServe runs the real `sluice serve` binary, built from cmd/sluice,
// against real peers: swaks, go-smtp's client, Python's smtplib, Postfix
// as the downstream and as the sending client, hostile raw clients, and a
// raw sink that records the exact bytes sluice relays. Each group starts
// its own sluice (and peers) and runs its cases in parallel; every sluice
// must exit 0 after SIGTERM, and its log is printed when a case fails.
func TestServe(t *testing.T) {
	bin := svBuildSluice(t)
	groups := []struct {
		name string
		run  func(*testing.T, string)
	}{
		{"swaks", svGroupSwaks},
		{"clients", svGroupClients},
		{"postfix_downstream", svGroupPostfixDownstream},
		{"postfix_client", svGroupPostfixClient},
		{"smuggling", svGroupSmuggling},
		{"relay", svGroupRelay},
		{"hostile", svGroupHostile},
		{"durability", svGroupDurability},
		{"proxy", svGroupProxy},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			g.run(t, bin)
		})
	}
}

// svBuildSluice builds cmd/sluice into the test's temporary directory,
// with the race detector when the tests run with it.
func svBuildSluice(t *testing.T) string {
	t.Helper()
	if !svRace {
		return mtBuildSluice(t)
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("needs the go command in $PATH to build cmd/sluice: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "sluice")
	ctx, cancel := context.WithTimeout(t.Context(), mtBuildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, goCmd, "build", "-race", "-o", bin, "./cmd/sluice")
	cmd.Dir = ".." // the module root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build -race ./cmd/sluice: %v\n%s", err, out)
	}
	return bin
}

// svConfig is what a test sets in sluice's configuration; svRender adds
// the rest (hostname, listener, directories, a short retry schedule).
type svConfig struct {
	SMTP       []string // extra lines of the [smtp] table, TOML as written
	Downstream string   // downstream.address, e.g. "smtp://127.0.0.1:2526"
	Retry      string   // queue.retry as a TOML array; default ["1s"]
	Extra      string   // appended as written: further tables ([filters...])
	// ResolveNames is smtp.resolve_client_names. Off by default here, so
	// that Received fields name every loopback client "unknown" whatever
	// /etc/hosts says, and no test waits for DNS.
	ResolveNames bool
}

// svRender returns the configuration file for a listener port and a
// state directory.
func svRender(c svConfig, port int, dir string) string {
	retry := c.Retry
	if retry == "" {
		retry = `["1s"]`
	}
	return fmt.Sprintf(`hostname = %q
data_dir = %q
log_level = "debug"

[smtp]
listen = ["127.0.0.1:%d"]
resolve_client_names = %t
%s

[queue]
dir = %q
retry = %s

[downstream]
address = %q
tls = "none"

[milter_server]
shutdown_timeout = "10s"
%s
`, svHost, filepath.Join(dir, "var"), port, c.ResolveNames, strings.Join(c.SMTP, "\n"),
		filepath.Join(dir, "spool"), retry, c.Downstream, c.Extra)
}

// svSluice is one `sluice serve` process, which may be killed and started
// again on the same port and spool.
type svSluice struct {
	bin, dir, cfgPath, logPath string
	Addr                       string // host:port it listens on
	Port                       int

	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has exited
	waitErr error         // cmd.Wait's result, set before done is closed
	starts  int           // how many times it logged svListening
}

// svStart starts sluice serve with c and waits until it listens. It is
// killed when the test ends if still running, and its log printed if the
// test failed.
func svStart(t *testing.T, bin string, c svConfig) *svSluice {
	t.Helper()
	dir := t.TempDir()
	s := &svSluice{bin: bin, dir: dir, cfgPath: filepath.Join(dir, "sluice.toml"), logPath: filepath.Join(dir, "sluice.log")}
	t.Cleanup(func() {
		s.kill()
		if strings.Contains(s.log(), "WARNING: DATA RACE") {
			t.Errorf("the race detector found a data race in sluice serve (see its log)")
		}
		if t.Failed() {
			t.Logf("sluice serve log (%s):\n%s", s.Addr, s.log())
		}
	})
	for attempt := 1; ; attempt++ {
		s.Port = peer.FreePort(t)
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port))
		if err := os.WriteFile(s.cfgPath, []byte(svRender(c, s.Port, dir)), 0o644); err != nil {
			t.Fatal(err)
		}
		err := s.run()
		if err == nil {
			return s
		}
		if attempt == mtStartAttempts || !strings.Contains(s.log(), "address already in use") {
			t.Fatalf("%v\nsluice serve log:\n%s", err, s.log())
		}
	}
}

// run starts the process and waits until it logs that it listens, or
// exits, or svStartTimeout passes (then it is killed).
func (s *svSluice) run() error {
	logFile, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logFile.Close() // the child has its own descriptor
	s.cmd = exec.Command(s.bin, "serve", "--config", s.cfgPath)
	s.cmd.Dir = s.dir
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("start sluice serve: %w", err)
	}
	done := make(chan struct{})
	s.done = done
	go func(cmd *exec.Cmd) {
		s.waitErr = cmd.Wait()
		close(done)
	}(s.cmd)
	want := s.starts + 1
	deadline := time.Now().Add(svStartTimeout)
	for strings.Count(s.log(), svListening) < want {
		select {
		case <-done:
			return fmt.Errorf("sluice serve exited before listening on %s: %v", s.Addr, s.waitErr)
		default:
		}
		if time.Now().After(deadline) {
			s.kill()
			return fmt.Errorf("sluice serve did not listen on %s within %v", s.Addr, svStartTimeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.starts = want
	return nil
}

func (s *svSluice) running() bool {
	if s.done == nil {
		return false
	}
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

// stop sends SIGTERM and checks that the process exits 0 in time.
func (s *svSluice) stop(t *testing.T) {
	t.Helper()
	s.term(t)
	s.waitExit(t)
}

// term sends SIGTERM.
func (s *svSluice) term(t *testing.T) {
	t.Helper()
	if !s.running() {
		t.Fatalf("sluice serve exited before SIGTERM: %v", s.waitErr)
	}
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM to sluice serve (pid %d): %v", s.cmd.Process.Pid, err)
	}
}

// waitExit checks that the process exits 0 within svStopTimeout.
func (s *svSluice) waitExit(t *testing.T) {
	t.Helper()
	select {
	case <-s.done:
		if s.waitErr != nil {
			t.Fatalf("sluice serve after SIGTERM: %v, want exit status 0", s.waitErr)
		}
	case <-time.After(svStopTimeout):
		t.Fatalf("sluice serve (pid %d) still running %v after SIGTERM", s.cmd.Process.Pid, svStopTimeout)
	}
}

// crash kills the process with SIGKILL and checks that it died of it.
func (s *svSluice) crash(t *testing.T) {
	t.Helper()
	if !s.running() {
		t.Fatalf("sluice serve exited before SIGKILL: %v", s.waitErr)
	}
	s.kill()
	var exit *exec.ExitError
	if !errors.As(s.waitErr, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("sluice serve after SIGKILL: %v, want killed by SIGKILL", s.waitErr)
	}
}

// restart starts the process again with the same configuration.
func (s *svSluice) restart(t *testing.T) {
	t.Helper()
	if s.running() {
		t.Fatal("sluice serve is still running")
	}
	if err := s.run(); err != nil {
		t.Fatal(err)
	}
}

// kill ends the process, by PID, if it still runs, and waits for it.
func (s *svSluice) kill() {
	if s.running() {
		_ = s.cmd.Process.Kill()
		select {
		case <-s.done:
		case <-time.After(svStopTimeout):
		}
	}
}

func (s *svSluice) log() string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// queued returns the IDs of the messages in the spool: those not yet
// delivered (or bounced). It reads the spool as `sluice queue list` does,
// from outside the serving process (or as the owner once it is gone).
func (s *svSluice) queued(t *testing.T) []string {
	t.Helper()
	q, err := queue.OpenControl(queue.Options{Dir: filepath.Join(s.dir, "spool")})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	recs, err := q.List()
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(recs))
	for i, r := range recs {
		ids[i] = r.ID
	}
	return ids
}

// waitQueueEmpty waits until every accepted message has left the spool.
func (s *svSluice) waitQueueEmpty(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(svWait)
	for {
		left := s.queued(t)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("sluice spool still holds %d messages after %v: %v", len(left), svWait, left)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// svLookPath finds a program that peer.Need found: in $PATH or, for
// Postfix's tools, in /usr/sbin.
func svLookPath(t *testing.T, program string) string {
	t.Helper()
	peer.Need(t, program)
	if p, err := exec.LookPath(program); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		p := filepath.Join(dir, program)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatalf("%s: not found", program)
	return ""
}
