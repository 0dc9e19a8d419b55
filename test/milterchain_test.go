package test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/filter"
	"github.com/sluice-mta/sluice/milterclient"
	"github.com/sluice-mta/sluice/test/peer"
)

// mcSecondConfig is the second `sluice milter`, the external milter of the
// first: it quarantines mail to one recipient, adds X-Second, and removes
// X-First, which only the first one's headers filter adds: its delete
// shows that it saw the first one's edit. %s is its socket.
const mcSecondConfig = `
log_level = "debug"
[milter_server]
listen = "unix:%s"
shutdown_timeout = "2s"
[filters.access]
[[filters.access.rules]]
recipient = "quarantine@example.org"
action = "quarantine"
reason = "held by the second milter"
[filters.headers]
add = ["X-Second: yes"]
remove = ["X-First"]
`

// mcFirstConfig is the `sluice milter` under test: its headers filter,
// then the second process as an external milter that tempfails when it is
// down. %s are its socket and the second's.
const mcFirstConfig = `
log_level = "debug"
[milter_server]
listen = "unix:%s"
shutdown_timeout = "2s"
[filters.headers]
add = ["X-First: yes"]
[[milters]]
name = "second"
address = "unix:%s"
default_action = "tempfail"
connect_timeout = "2s"
command_timeout = "5s"
eom_timeout = "10s"
`

// mcTimeout bounds each milter step of the test's own client.
const mcTimeout = 10 * time.Second

// TestMilterChain runs `sluice milter` serving [filters] and [[milters]]
// as one chain, its external milter being a second `sluice milter`
// process, and plays the MTA with package milterclient. Both processes'
// edits come back, in chain order. Then the second process is stopped:
// the first applies that milter's default_action (tempfail: 451 4.7.1)
// from the first stage, logs the failure with the milter's name, stays up
// for the next connection, and exits 0 on SIGTERM.
func TestMilterChain(t *testing.T) {
	bin := mtBuildSluice(t)
	secondSock := peer.SocketPath(t, "second.sock")
	firstSock := peer.SocketPath(t, "first.sock")
	second := mcStart(t, bin, "second", fmt.Sprintf(mcSecondConfig, secondSock), secondSock)
	first := mcStart(t, bin, "first", fmt.Sprintf(mcFirstConfig, firstSock, secondSock), firstSock)

	for _, want := range []string{
		"msg=\"chain member\" position=1 kind=built-in name=headers\n",
		"msg=\"chain member\" position=2 kind=milter name=second address=unix:" + secondSock +
			" default_action=tempfail connect_timeout=2s command_timeout=5s eom_timeout=10s\n",
	} {
		if !strings.Contains(first.log(), want) {
			t.Errorf("the first process's log lacks %q", want)
		}
	}

	verdicts, edits := mcDrive(t, firstSock)
	if want := "connect continue, helo continue, mail continue, rcpt continue, data continue, " +
		"header continue, header continue, eoh continue, body continue, eom continue"; verdicts != want {
		t.Errorf("verdicts:\n%s\nwant\n%s", verdicts, want)
	}
	wantEdits := []filter.Edit{
		{Kind: filter.AddHeader, Name: "X-First", Value: " yes"},
		{Kind: filter.Quarantine, Reason: "held by the second milter"},
		{Kind: filter.DeleteHeader, Name: "X-First", Index: 1},
		{Kind: filter.AddHeader, Name: "X-Second", Value: " yes"},
	}
	if !reflect.DeepEqual(edits, wantEdits) {
		t.Errorf("edits:\n%v\nwant\n%v", edits, wantEdits)
	}

	second.stop(t)
	const down = "connect tempfail 451 4.7.1 Service unavailable - try again later"
	for i := range 2 {
		if verdicts, edits := mcDrive(t, firstSock); verdicts != down || len(edits) != 0 {
			t.Errorf("message %d with the second milter down: %s, edits %v; want %s and no edits", i+1, verdicts, edits, down)
		}
		if !first.running() {
			t.Fatalf("the first process exited after its milter went down: %v", first.waitErr)
		}
	}
	if log := first.log(); !strings.Contains(log, "milter failed; its default action applies") ||
		!strings.Contains(log, "milter=second") || !strings.Contains(log, "default_action=tempfail") {
		t.Errorf("the first process did not log the milter's failure by name")
	}
	first.stop(t)
}

// mcStart starts `sluice milter` with config in a directory of its own and
// waits until its unix socket sock accepts. It is killed when the test
// ends, and its log printed if the test failed.
func mcStart(t *testing.T, bin, name, config, sock string) *mtServer {
	t.Helper()
	dir := t.TempDir()
	s := &mtServer{logPath: filepath.Join(dir, name+".log"), done: make(chan struct{})}
	cfg := filepath.Join(dir, name+".toml")
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	logFile, err := os.Create(s.logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close() // the child has its own descriptor
	s.cmd = exec.Command(bin, "milter", "--config", cfg)
	s.cmd.Dir = dir
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start sluice milter %s: %v", name, err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		s.kill()
		if t.Failed() {
			t.Logf("sluice milter %s log:\n%s", name, s.log())
		}
	})
	deadline := time.Now().Add(mtStartTimeout)
	for {
		if !s.running() {
			t.Fatalf("sluice milter %s exited before listening: %v", name, s.waitErr)
		}
		c, err := net.DialTimeout("unix", sock, time.Second)
		if err == nil {
			_ = c.Close()
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("sluice milter %s not listening on %s after %v: %v", name, sock, mtStartTimeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// mcDrive plays the MTA for one message to the milter at unix socket
// sock: it returns "stage verdict" for each stage up to the first that
// is not continue, and the end-of-message edits.
func mcDrive(t *testing.T, sock string) (string, []filter.Edit) {
	t.Helper()
	m, err := milterclient.New(milterclient.Options{
		Name: "first", Address: "unix:" + sock, Breaker: milterclient.BreakerOptions{Failures: -1},
		ConnectTimeout: mcTimeout, CommandTimeout: mcTimeout, EOMTimeout: mcTimeout,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	macros := filter.MacroMap{"j": "mx.test", "i": "4Xmc1", "client_addr": "192.0.2.9"}
	s := m.Open(ctx, macros)
	defer s.Close(ctx)
	if err := s.Err(); err != nil {
		t.Fatalf("connecting to the first process: %v", err)
	}
	var out []string
	mod := filter.NewModifier(filter.AllEdits, nil)
	steps := []struct {
		stage string
		call  func() filter.Verdict
	}{
		{"connect", func() filter.Verdict {
			return s.Connect(ctx, &envelope.Conn{ClientName: "client.test", ClientAddr: netip.MustParseAddrPort("192.0.2.9:40000")})
		}},
		{"helo", func() filter.Verdict { return s.Helo(ctx, "client.test") }},
		{"mail", func() filter.Verdict { return s.Mail(ctx, envelope.Address{Addr: "alice@example.net"}) }},
		{"rcpt", func() filter.Verdict { return s.Rcpt(ctx, envelope.Address{Addr: "quarantine@example.org"}) }},
		{"data", func() filter.Verdict { return s.Data(ctx) }},
		{"header", func() filter.Verdict { return s.Header(ctx, "From", " alice@example.net") }},
		{"header", func() filter.Verdict { return s.Header(ctx, "Subject", " chained") }},
		{"eoh", func() filter.Verdict { return s.EndOfHeaders(ctx) }},
		{"body", func() filter.Verdict { return s.Body(ctx, []byte("Hello.\r\n")) }},
		{"eom", func() filter.Verdict { return s.EndOfMessage(ctx, mod) }},
	}
	for _, st := range steps {
		v := st.call()
		out = append(out, st.stage+" "+v.String())
		if v != filter.Continue {
			break
		}
	}
	if err := s.Err(); err != nil {
		t.Errorf("the first process failed as a milter: %v", err)
	}
	return strings.Join(out, ", "), mod.Edits()
}
