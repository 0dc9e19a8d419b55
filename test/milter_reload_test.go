package test

import (
	"context"
	"errors"
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
	"syscall"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/filter"
	"github.com/sluice-mta/sluice/filter/headers"
	"github.com/sluice-mta/sluice/milterclient"
	"github.com/sluice-mta/sluice/miltersrv"
	"github.com/sluice-mta/sluice/test/peer"
)

// mrConfig is the `sluice milter` configuration of TestMilterReload: its
// headers filter adds X-Reload with a value that changes from one
// version of the file to the next; %s are its socket, the header value and
// an optional [[milters]] entry.
const mrConfig = `
log_level = "debug"
[milter_server]
listen = "unix:%s"
shutdown_timeout = "2s"
[filters.headers]
add = ["X-Reload: %s"]
%s`

// mrMilter is the [[milters]] entry of the first version: the test's own
// milter server, adding X-Ext. %s is its socket.
const mrMilter = `
[[milters]]
name = "ext"
address = "unix:%s"
default_action = "tempfail"
connect_timeout = "2s"
command_timeout = "5s"
eom_timeout = "5s"
`

// TestMilterReload checks SIGHUP on `sluice milter`: a new configuration
// applies to connections opened after the signal, a connection in progress
// finishes with the chain it started with, the old chain's external milter
// connection is closed when that connection ends, an invalid file is
// refused with its file and key logged while the running chain stays, and
// a changed listen address is reported as needing a restart.
func TestMilterReload(t *testing.T) {
	bin := mtBuildSluice(t)
	extSock := peer.SocketPath(t, "ext.sock")
	ext := mrExternal(t, extSock)
	sock := peer.SocketPath(t, "reload.sock")
	cfg := filepath.Join(t.TempDir(), "sluice.toml")
	mrWrite(t, cfg, fmt.Sprintf(mrConfig, sock, "one", fmt.Sprintf(mrMilter, extSock)))
	s := mrStart(t, bin, cfg, sock)

	xOne := filter.Edit{Kind: filter.AddHeader, Name: "X-Reload", Value: " one"}
	xExt := filter.Edit{Kind: filter.AddHeader, Name: "X-Ext", Value: " yes"}
	xTwo := filter.Edit{Kind: filter.AddHeader, Name: "X-Reload", Value: " two"}
	mrExpect(t, "before the reload", mrMessage(t, mrOpen(t, sock)), []filter.Edit{xOne, xExt})

	inProgress := mrOpen(t, sock) // connected before the reload: keeps the old chain
	mrWrite(t, cfg, fmt.Sprintf(mrConfig, sock, "two", ""))
	s.hup(t, 1, `msg="configuration reloaded"`)
	if log := s.log(); !strings.Contains(log, "changed=\"[filters.headers milters]\"") {
		t.Errorf("the reload did not log the changed keys filters.headers and milters")
	}
	mrExpect(t, "after the reload", mrMessage(t, mrOpen(t, sock)), []filter.Edit{xTwo})
	mrExpect(t, "connection opened before the reload", mrMessage(t, inProgress), []filter.Edit{xOne, xExt})
	mrWaitFor(t, "the old chain's milter connection to close", func() bool { return ext.Connections() == 0 })

	mrWrite(t, cfg, fmt.Sprintf(mrConfig, sock, "three\"]\nbroken", ""))
	s.hup(t, 1, `msg="configuration reload failed; keeping the running configuration"`)
	mrWrite(t, cfg, strings.Replace(fmt.Sprintf(mrConfig, sock, "x", ""), `"X-Reload: x"`, `"no colon"`, 1))
	s.hup(t, 2, `msg="configuration reload failed; keeping the running configuration"`)
	if log := s.log(); !strings.Contains(log, cfg+": filters.headers.add[0]") {
		t.Errorf("the failed reload did not name the file and key %q", cfg+": filters.headers.add[0]")
	}
	if !s.running() {
		t.Fatalf("sluice milter exited after an invalid configuration: %v", s.waitErr)
	}
	mrExpect(t, "after the invalid configurations", mrMessage(t, mrOpen(t, sock)), []filter.Edit{xTwo})

	other := peer.SocketPath(t, "other.sock")
	mrWrite(t, cfg, fmt.Sprintf(mrConfig, other, "four", ""))
	s.hup(t, 2, `msg="configuration reloaded"`)
	if log := s.log(); !strings.Contains(log, "milter_server.listen changed; it needs a restart") {
		t.Errorf("a changed listen address was not reported as needing a restart")
	}
	mrExpect(t, "after a listen change", mrMessage(t, mrOpen(t, sock)),
		[]filter.Edit{{Kind: filter.AddHeader, Name: "X-Reload", Value: " four"}})
	s.stop(t)
}

// mrExternal serves the headers filter adding "X-Ext: yes" on sock, in
// this process, so the test can count the connections sluice keeps to it.
func mrExternal(t *testing.T, sock string) *miltersrv.Server {
	t.Helper()
	f, err := headers.New(headers.Options{Add: []headers.Header{{Name: "X-Ext", Value: "yes"}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := miltersrv.New(f, miltersrv.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	l, err := miltersrv.Listen("unix:" + sock)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; !errors.Is(err, miltersrv.ErrServerClosed) {
			t.Errorf("external milter: %v", err)
		}
	})
	return srv
}

func mrWrite(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// mrStart starts `sluice milter --config cfg` and waits until sock
// accepts. It is killed when the test ends, its log printed on failure.
func mrStart(t *testing.T, bin, cfg, sock string) *mtServer {
	t.Helper()
	s := &mtServer{logPath: cfg + ".log", done: make(chan struct{})}
	logFile, err := os.Create(s.logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close() // the child has its own descriptor
	s.cmd = exec.Command(bin, "milter", "--config", cfg)
	s.cmd.Dir = filepath.Dir(cfg)
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start sluice milter: %v", err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		s.kill()
		if t.Failed() {
			t.Logf("sluice milter log:\n%s", s.log())
		}
	})
	mrWaitFor(t, "sluice milter to listen on "+sock, func() bool {
		if !s.running() {
			t.Fatalf("sluice milter exited before listening: %v", s.waitErr)
		}
		c, err := net.DialTimeout("unix", sock, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return s
}

// hup sends SIGHUP to the process the test started and waits until its
// log holds want n times.
func (s *mtServer) hup(t *testing.T, n int, want string) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatalf("SIGHUP to sluice milter (pid %d): %v", s.cmd.Process.Pid, err)
	}
	mrWaitFor(t, fmt.Sprintf("%d× %s in the log", n, want), func() bool {
		return strings.Count(s.log(), want) >= n
	})
}

// mrWaitFor polls cond every 20ms for up to mcTimeout.
func mrWaitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(mcTimeout); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// mrOpen opens a milter session to sock and runs its connect stage, so
// the connection exists (and has negotiated) before what follows.
func mrOpen(t *testing.T, sock string) filter.Session {
	t.Helper()
	m, err := milterclient.New(milterclient.Options{
		Name: "reload", Address: "unix:" + sock, Breaker: milterclient.BreakerOptions{Failures: -1},
		ConnectTimeout: mcTimeout, CommandTimeout: mcTimeout, EOMTimeout: mcTimeout,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s := m.Open(ctx, filter.MacroMap{"j": "mx.test", "i": "4Xmr1"})
	if err := s.Err(); err != nil {
		t.Fatalf("connecting to sluice milter: %v", err)
	}
	conn := &envelope.Conn{ClientName: "client.test", ClientAddr: netip.MustParseAddrPort("192.0.2.9:40000")}
	if v := s.Connect(ctx, conn); v != filter.Continue {
		t.Fatalf("connect: %v", v)
	}
	return s
}

// mrMessage sends one message on an open session, closes it and returns
// the end-of-message edits; every stage must answer continue.
func mrMessage(t *testing.T, s filter.Session) []filter.Edit {
	t.Helper()
	ctx := context.Background()
	defer s.Close(ctx)
	mod := filter.NewModifier(filter.AllEdits, nil)
	for i, call := range []func() filter.Verdict{
		func() filter.Verdict { return s.Helo(ctx, "client.test") },
		func() filter.Verdict { return s.Mail(ctx, envelope.Address{Addr: "alice@example.net"}) },
		func() filter.Verdict { return s.Rcpt(ctx, envelope.Address{Addr: "bob@example.org"}) },
		func() filter.Verdict { return s.Data(ctx) },
		func() filter.Verdict { return s.Header(ctx, "Subject", " reload") },
		func() filter.Verdict { return s.EndOfHeaders(ctx) },
		func() filter.Verdict { return s.Body(ctx, []byte("Hello.\r\n")) },
		func() filter.Verdict { return s.EndOfMessage(ctx, mod) },
	} {
		if v := call(); v != filter.Continue {
			t.Fatalf("stage %d after connect: %v", i+1, v)
		}
	}
	return mod.Edits()
}

func mrExpect(t *testing.T, when string, got, want []filter.Edit) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: edits\n%v\nwant\n%v", when, got, want)
	}
}
