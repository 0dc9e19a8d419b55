package peer

import (
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// PostfixOptions configure StartPostfix. An instance accepts mail from
// loopback clients (mynetworks) for any recipient and relays it to Relay.
// Without Relay (or relayhost, default_transport or transport_maps in
// Main) it has nowhere to send mail and refuses every recipient with
// "450 4.4.0 ... no relay configured for this test instance", so a test's
// mail never leaves for the Internet.
type PostfixOptions struct {
	ListenAddr string            // SMTP listener host:port; default 127.0.0.1 and a free port
	Hostname   string            // myhostname; default "postfix.test"
	Relay      string            // host:port of the next hop (a Sink's Addr): relayhost = [host]:port
	Main       map[string]string // main.cf parameters added or overriding the defaults (smtpd_milters, relayhost, smtpd_authorized_xclient_hosts, ...)
	Master     []string          // extra master.cf lines, appended as given
}

// Postfix is a private Postfix instance: its own configuration, queue,
// data directory and log file under Dir, one SMTP listener on Addr, no
// chroot.
type Postfix struct {
	Dir       string // instance root
	ConfigDir string // main.cf and master.cf (postfix -c ConfigDir)
	QueueDir  string // queue_directory
	DataDir   string // data_directory
	LogFile   string // maillog_file
	Host      string // SMTP listener address
	Port      int
	Hostname  string // myhostname

	postfix, postconf, postqueue string // program paths
}

// StartPostfix starts a private Postfix instance for the test and stops it
// when the test ends; the system instance (/etc/postfix) is neither read
// nor changed. It waits, bounded, until the master listens on the SMTP
// address (without connecting, which would run smtpd_milters), and fails
// the test with Postfix's log otherwise; the log is also printed when the
// test fails later. It skips the test when Postfix is not installed or the
// test does not run as root.
func StartPostfix(t testing.TB, opts PostfixOptions) *Postfix {
	t.Helper()
	p := newPostfix(t, opts)
	install := p.installDefaults(t)
	if err := p.makeLayout(install["meta_directory"]); err != nil {
		t.Logf("peer: %v; postfix start makes the queue itself (slower)", err)
	}
	for attempt := 1; ; attempt++ {
		addr := opts.ListenAddr
		if addr == "" {
			addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(t)))
		}
		host, port, err := splitHostPort(addr)
		if err != nil {
			t.Fatalf("peer: postfix listen address: %v", err)
		}
		p.Host, p.Port = host, port
		if err := p.writeConfig(opts, install); err != nil {
			t.Fatalf("peer: postfix configuration: %v", err)
		}
		out, err := runTool(toolTimeout, p.postfix, "-c", p.ConfigDir, "start")
		if err == nil {
			break
		}
		p.stop(t) // in case a master is up despite the error
		log := p.Log(t)
		if opts.ListenAddr != "" || attempt == startAttempts || !strings.Contains(out+log, "in use") {
			t.Fatalf("peer: postfix start: %v\n%s\npostfix log:\n%s", err, out, log)
		}
	}
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			t.Logf("peer: postfix %s log:\n%s", p.Addr(), p.Log(t))
		}
	})
	// The master owns the listening socket and hands connections to smtpd.
	var up bool
	waitFor(startTimeout, func() bool {
		pid := p.masterPID()
		up = listens(pid, p.Host, p.Port)
		return up || (pid > 0 && !alive(pid))
	})
	if !up {
		t.Fatalf("peer: postfix on %s: master gone or not listening within %v", p.Addr(), startTimeout)
	}
	return p
}

// newPostfix checks the prerequisites and makes the instance directories.
func newPostfix(t testing.TB, opts PostfixOptions) *Postfix {
	t.Helper()
	p := &Postfix{
		postfix:   mustLookPath(t, "postfix"),
		postconf:  mustLookPath(t, "postconf"),
		postqueue: mustLookPath(t, "postqueue"),
		Hostname:  opts.Hostname,
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a private Postfix instance (its daemons switch to the postfix user)")
	}
	if _, err := user.Lookup("postfix"); err != nil {
		t.Skipf("needs the postfix user (Debian package postfix): %v", err)
	}
	if p.Hostname == "" {
		p.Hostname = "postfix.test"
	}
	// A short path outside the test's 0700 temporary directory, free of
	// characters main.cf would interpret.
	dir, err := os.MkdirTemp("", "peer-postfix-")
	if err != nil {
		t.Fatalf("peer: %v", err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("peer: remove postfix instance: %v", err)
		}
	})
	if strings.ContainsAny(dir, " \t\r\n,$%\"'=#") {
		t.Fatalf("peer: postfix instance directory %q holds characters main.cf would interpret", dir)
	}
	p.Dir = dir
	p.ConfigDir = filepath.Join(dir, "etc")
	p.QueueDir = filepath.Join(dir, "queue")
	p.DataDir = filepath.Join(dir, "data")
	p.LogFile = filepath.Join(dir, "postfix.log")
	// postfix(1) enters the queue directory before it creates the queue
	// layout inside it (postfix-script check-fatal, post-install).
	for _, d := range []string{p.ConfigDir, p.QueueDir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatalf("peer: %v", err)
		}
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatalf("peer: %v", err)
	}
	return p
}

// installDefaults returns where this Postfix installation keeps its
// programs and files (postconf -d), for the instance's main.cf.
func (p *Postfix) installDefaults(t testing.TB) map[string]string {
	t.Helper()
	for _, name := range []string{"main.cf", "master.cf"} {
		if err := os.WriteFile(filepath.Join(p.ConfigDir, name), nil, 0o644); err != nil {
			t.Fatalf("peer: %v", err)
		}
	}
	names := installDirs()
	out, err := runTool(toolTimeout, p.postconf, append([]string{"-c", p.ConfigDir, "-d"}, names...)...)
	m := make(map[string]string, len(names))
	for _, line := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(line, " = ")
		if ok && slices.Contains(names, k) {
			m[k] = strings.TrimSpace(v)
		}
	}
	if err != nil || len(m) != len(names) {
		t.Fatalf("peer: postconf -d: %v\n%s", err, out)
	}
	return m
}

// Addr returns the SMTP listener's host:port.
func (p *Postfix) Addr() string {
	return net.JoinHostPort(p.Host, strconv.Itoa(p.Port))
}

// Log returns the instance's log so far (maillog_file, written by
// postlogd, so the newest lines may lag a little).
func (p *Postfix) Log(t testing.TB) string {
	b, err := os.ReadFile(p.LogFile)
	if err != nil && !os.IsNotExist(err) {
		return fmt.Sprintf("(cannot read %s: %v)", p.LogFile, err)
	}
	return string(b)
}

// WaitLog waits until the log contains substr and returns the log; it
// fails the test after timeout. Postfix logs through postlogd, so a line
// can appear a little after the event it reports (a queue file's removal,
// say).
func (p *Postfix) WaitLog(t testing.TB, substr string, timeout time.Duration) string {
	t.Helper()
	var log string
	if !waitFor(timeout, func() bool { log = p.Log(t); return strings.Contains(log, substr) }) {
		t.Fatalf("peer: postfix %s log lacks %q after %v", p.Addr(), substr, timeout)
	}
	return log
}

// masterPID returns the PID in the instance's master.pid, or 0.
func (p *Postfix) masterPID() int {
	b, err := os.ReadFile(filepath.Join(p.QueueDir, "pid", "master.pid"))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	pid, _ := strconv.Atoi(f[0])
	return pid
}

// stop tells the master to terminate and waits until it and its daemons
// have exited, killing them by PID (the master's process group) if they
// linger. It runs "postfix abort", which sends the master the same SIGTERM
// as "postfix stop" but does not then poll once a second.
func (p *Postfix) stop(t testing.TB) {
	pid := p.masterPID()
	if pid <= 0 {
		return
	}
	info, ok := readProc(pid)
	running := ok && info.live()
	if running {
		if out, err := runTool(toolTimeout, p.postfix, "-c", p.ConfigDir, "abort"); err != nil {
			t.Logf("peer: postfix abort: %v\n%s", err, out)
		}
	}
	// The master runs in its own session, so its daemons share its process
	// group, which outlives it if it died first.
	gone := func() bool { return !groupAlive(pid) }
	kill := func() { _ = syscall.Kill(-pid, syscall.SIGKILL) }
	if running && info.pgrp != pid {
		gone = func() bool { return !alive(pid) }
		kill = func() { _ = syscall.Kill(pid, syscall.SIGKILL) }
	}
	if waitFor(stopTimeout, gone) {
		return
	}
	t.Logf("peer: postfix master %d or its daemons still run after stop; killing them", pid)
	kill()
	if !waitFor(stopTimeout, gone) {
		t.Errorf("peer: postfix master %d or its daemons did not exit", pid)
	}
}
