package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// reloadTimeout bounds each wait of TestMilterReloadSignal.
const reloadTimeout = 10 * time.Second

// reloadConfig is the configuration of TestMilterReloadSignal; %s are the
// socket, extra [milter_server] lines and the header field the headers
// filter adds.
const reloadConfig = `
[milter_server]
listen = "unix:%s"
shutdown_timeout = "2s"
%s
[filters.headers]
add = ["%s"]
`

// TestMilterReloadSignal runs `sluice milter`, rewrites its configuration
// and sends SIGHUP to the process, then drives it with `sluice
// milter-test`: a valid file changes the header new connections get; an
// invalid one is logged with its file and key and the running chain
// stays; the process stays up throughout and exits 0 on SIGTERM.
func TestMilterReloadSignal(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "m.sock")
	cfg := filepath.Join(dir, "sluice.toml")
	write := func(extra, field string) {
		t.Helper()
		if err := os.WriteFile(cfg, []byte(fmt.Sprintf(reloadConfig, sock, extra, field)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("", "X-Reload: one")
	p := startMilter(t, dir, cfg, sock)
	wantHeader(t, dir, sock, "X-Reload: one")

	steps := []struct {
		name         string
		extra, field string
		log          string // a line part the reload logs
		header       string // what new connections then get
	}{
		{"new header", "", "X-Reload: two", `msg="configuration reloaded"`, "X-Reload: two"},
		{"bad TOML", "max_connections = [", "X-Reload: three", `msg="configuration reload failed; keeping the running configuration" err="` + cfg, "X-Reload: two"},
		{"bad value", `failure_action = "maybe"`, "X-Reload: four", cfg + ": milter_server.failure_action", "X-Reload: two"},
		{"bad header", "", "no colon", cfg + `: filters.headers.add[0]`, "X-Reload: two"},
		{"options", "read_timeout = \"1m\"\nmax_connections = 5", "X-Reload: five", `changed="[milter_server.max_connections milter_server.read_timeout filters.headers]"`, "X-Reload: five"},
	}
	for _, st := range steps {
		write(st.extra, st.field)
		before := strings.Count(p.log(), st.log)
		p.hup(t)
		p.waitLog(t, st.log, before+1)
		if !p.running() {
			t.Fatalf("%s: sluice milter exited after SIGHUP", st.name)
		}
		wantHeader(t, dir, sock, st.header)
	}
	p.stop(t)
}

// wantHeader runs `sluice milter-test` against sock and checks that the
// resulting message carries header.
func wantHeader(t *testing.T, dir, sock, header string) {
	t.Helper()
	r := sluice(t, dir, "milter-test", "unix:"+sock)
	if r.code != 0 || !strings.Contains(r.stdout, "\n"+header+"\n") {
		t.Fatalf("milter-test: exit %d, stderr %q, stdout:\n%s\nwant exit 0 and a message with %q", r.code, r.stderr, r.stdout, header)
	}
}

// milterProc is a `sluice milter` the test started.
type milterProc struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  strings.Builder // its stderr
	done chan struct{}
}

func (p *milterProc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

func (p *milterProc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

func (p *milterProc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// startMilter starts `sluice milter --config cfg` in dir and waits until
// sock exists; it is killed (by PID) when the test ends.
func startMilter(t *testing.T, dir, cfg, sock string) *milterProc {
	t.Helper()
	p := &milterProc{done: make(chan struct{})}
	p.cmd = exec.Command(binary, "milter", "--config", cfg)
	p.cmd.Dir, p.cmd.Env, p.cmd.Stderr = dir, cleanEnv(), p
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		if p.running() {
			p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("sluice milter log:\n%s", p.log())
		}
	})
	p.waitLog(t, `msg="sluice milter listening"`, 1)
	if _, err := os.Stat(sock); err != nil {
		t.Fatalf("listening, but %v", err)
	}
	return p
}

func (p *milterProc) hup(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatalf("SIGHUP to pid %d: %v", p.cmd.Process.Pid, err)
	}
}

// waitLog waits until the log holds want n times.
func (p *milterProc) waitLog(t *testing.T, want string, n int) {
	t.Helper()
	for deadline := time.Now().Add(reloadTimeout); strings.Count(p.log(), want) < n; {
		if time.Now().After(deadline) || !p.running() {
			t.Fatalf("the log does not hold %q %d times (running: %v)", want, n, p.running())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends SIGTERM and expects exit status 0.
func (p *milterProc) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
		if code := p.cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("exit status %d after SIGTERM, want 0", code)
		}
	case <-time.After(reloadTimeout):
		t.Fatalf("still running %v after SIGTERM", reloadTimeout)
	}
}
