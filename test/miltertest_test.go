package test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
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
	// mtDir holds the scripts; miltertest runs there so that a
	// script can dofile("lib.lua").
	mtDir = "testdata/miltertest"
	// mtBuildTimeout bounds `go build ./cmd/sluice`.
	mtBuildTimeout = 5 * time.Minute
	// mtStartTimeout bounds the wait for sluice's port to accept.
	mtStartTimeout = 30 * time.Second
	// mtStopTimeout bounds the wait for sluice to exit after SIGTERM; the
	// configured shutdown_timeout is well below it.
	mtStopTimeout = 20 * time.Second
	// mtScriptTimeout bounds one miltertest run; a healthy one takes well
	// under a second.
	mtScriptTimeout = time.Minute
	// mtStartAttempts bounds the retries when the chosen port was taken.
	mtStartAttempts = 3
)

// mtConfig is the configuration under test; %d is the port.
const mtConfig = `
log_level = "debug"

[milter_server]
listen = "inet:%d@127.0.0.1"
shutdown_timeout = "5s"

[filters.headers]
add = ["X-Filtered-By: sluice"]
remove = ["X-Spam-Flag"]

[filters.access]
[[filters.access.rules]]
sender = "spammer@example.com"
action = "reject"
reply = "550 5.7.1 Sender spammer@example.com refused"
[[filters.access.rules]]
recipient = "quarantine@example.org"
action = "quarantine"
reason = "test quarantine"
[[filters.access.rules]]
client = "192.0.2.0/24"
action = "tempfail"
[[filters.access.rules]]
helo = ".bad.example"
action = "reject"
[[filters.access.rules]]
recipient = "@discard.example"
action = "discard"
`

// The scenarios, one script each, run in both negotiation modes.
var mtScenarios = []string{
	"clean",           // every stage; X-Filtered-By added, both X-Spam-Flag deleted
	"reject_sender",   // SMFIR_REPLYCODE at MAIL
	"tempfail_client", // SMFIR_TEMPFAIL at connect for 192.0.2.0/24
	"reject_helo",     // SMFIR_REJECT at HELO for subdomains of bad.example
	"quarantine",      // SMFIR_QUARANTINE at end of message, with the reason
	"discard",         // SMFIR_DISCARD at RCPT for @discard.example
	"two_messages",    // abort between messages, state reset, unknown command
}

// TestMiltertest drives one real `sluice milter` process, built from
// cmd/sluice and started with mtConfig, with OpenDKIM's miltertest(8),
// which plays the MTA from the Lua scripts in testdata/miltertest (see
// lib.lua there for the helpers and the two negotiation modes). Each script
// asserts the reply to every stage and the end-of-message edits, prints
// PASS at its end, and makes miltertest exit non-zero on any mismatch. At
// the end the process must exit 0 within mtStopTimeout of SIGTERM.
func TestMiltertest(t *testing.T) {
	peer.Need(t, "miltertest")
	mt, err := exec.LookPath("miltertest")
	if err != nil {
		t.Fatal(err)
	}
	bin := mtBuildSluice(t)
	srv := mtStartServer(t, bin)

	for _, mode := range []string{"default", "full"} {
		for _, name := range mtScenarios {
			t.Run(name+"/"+mode, func(t *testing.T) {
				mtRunScript(t, mt, srv.port, name, mode)
			})
		}
	}

	t.Run("wrong expectation fails", func(t *testing.T) {
		out, err := mtRun(t, mt, srv.port, "wrong_expectation", "default")
		const want = "connect: sluice replied SMFIR_CONTINUE, want SMFIR_REJECT"
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(out, "FAIL: ") || !strings.Contains(out, want) {
			t.Fatalf("miltertest: %v, want exit status 1 and %q; output:\n%s", err, want, out)
		}
	})

	t.Run("sender reply text", func(t *testing.T) {
		mtSenderReplyText(t, srv.port)
	})

	t.Run("survives disconnect mid-message", func(t *testing.T) {
		for _, mode := range []string{"default", "full"} {
			mtRunScript(t, mt, srv.port, "disconnect_midmessage", mode)
			mtRunScript(t, mt, srv.port, "clean", mode)
			if !srv.running() {
				t.Fatalf("sluice milter exited after a client hung up mid-message")
			}
		}
	})

	srv.stop(t)
}

// mtRunScript runs one script and fails the test unless miltertest exits 0
// and the script printed PASS as its last line.
func mtRunScript(t *testing.T, mt string, port int, script, mode string) {
	t.Helper()
	out, err := mtRun(t, mt, port, script, mode)
	if err != nil {
		t.Fatalf("miltertest %s.lua (negotiation %s): %v; output:\n%s", script, mode, err, out)
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if lines[len(lines)-1] != "PASS" {
		t.Fatalf("miltertest %s.lua (negotiation %s) exited 0 but did not end with PASS; output:\n%s", script, mode, out)
	}
}

// mtRun runs a script with -v (one line per stage with the reply
// byte) and returns its output, standard error included.
func mtRun(t *testing.T, mt string, port int, script, mode string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), mtScriptTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, mt, "-v",
		"-D", "port="+strconv.Itoa(port), "-D", "negotiation="+mode, "-s", script+".lua")
	cmd.Dir = mtDir
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		err = fmt.Errorf("timed out after %v: %w", mtScriptTimeout, err)
	}
	return string(out), err
}

// mtBuildSluice builds cmd/sluice into the test's temporary directory.
func mtBuildSluice(t *testing.T) string {
	t.Helper()
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("needs the go command in $PATH to build cmd/sluice: %v", err)
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found above the test directory: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "sluice")
	ctx, cancel := context.WithTimeout(t.Context(), mtBuildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, goCmd, "build", "-o", bin, "./cmd/sluice")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/sluice: %v\n%s", err, out)
	}
	return bin
}

// mtServer is a running `sluice milter` process.
type mtServer struct {
	cmd     *exec.Cmd
	port    int
	logPath string
	done    chan struct{} // closed when the process has exited
	waitErr error         // cmd.Wait's result, set before done is closed
}

// mtErrPortTaken reports that another program took the port first.
var mtErrPortTaken = errors.New("port already in use")

// mtStartServer starts sluice milter with mtConfig and waits
// until its port accepts. The process is killed when the test ends, and
// its log printed if the test failed.
func mtStartServer(t *testing.T, bin string) *mtServer {
	t.Helper()
	dir := t.TempDir()
	var err error
	for range mtStartAttempts {
		var s *mtServer
		if s, err = mtTryStartServer(t, bin, dir); err == nil {
			return s
		}
		if !errors.Is(err, mtErrPortTaken) {
			break
		}
	}
	t.Fatal(err)
	return nil
}

func mtTryStartServer(t *testing.T, bin, dir string) (*mtServer, error) {
	port := peer.FreePort(t)
	cfg := filepath.Join(dir, fmt.Sprintf("sluice-%d.toml", port))
	if err := os.WriteFile(cfg, fmt.Appendf(nil, mtConfig, port), 0o644); err != nil {
		return nil, err
	}
	s := &mtServer{port: port, logPath: filepath.Join(dir, fmt.Sprintf("sluice-%d.log", port)), done: make(chan struct{})}
	logFile, err := os.Create(s.logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child has its own descriptor
	s.cmd = exec.Command(bin, "milter", "--config", cfg)
	s.cmd.Dir = dir
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start sluice milter: %w", err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("sluice milter log (%s):\n%s", s.logPath, s.log())
		}
	})
	t.Cleanup(s.kill)
	if err := s.waitListening(); err != nil {
		s.kill()
		log := s.log()
		if strings.Contains(log, "address already in use") {
			err = fmt.Errorf("%w: %w", mtErrPortTaken, err)
		}
		return nil, err // the cleanup above prints the log
	}
	return s, nil
}

// waitListening polls the port until it accepts a connection, the process
// exits or mtStartTimeout passes.
func (s *mtServer) waitListening() error {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
	deadline := time.Now().Add(mtStartTimeout)
	for {
		select {
		case <-s.done:
			return fmt.Errorf("sluice milter exited before listening on %s: %v", addr, s.waitErr)
		default:
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			return c.Close()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("sluice milter not listening on %s after %v: %v", addr, mtStartTimeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *mtServer) running() bool {
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

// stop sends SIGTERM to the process and checks that it exits with status
// 0 within mtStopTimeout.
func (s *mtServer) stop(t *testing.T) {
	t.Helper()
	if !s.running() {
		t.Fatalf("sluice milter exited before SIGTERM: %v", s.waitErr)
	}
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM to sluice milter (pid %d): %v", s.cmd.Process.Pid, err)
	}
	select {
	case <-s.done:
		if s.waitErr != nil {
			t.Fatalf("sluice milter after SIGTERM: %v, want exit status 0", s.waitErr)
		}
	case <-time.After(mtStopTimeout):
		t.Fatalf("sluice milter (pid %d) still running %v after SIGTERM", s.cmd.Process.Pid, mtStopTimeout)
	}
}

// kill ends the process, by PID, if it still runs.
func (s *mtServer) kill() {
	if s.running() {
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

func (s *mtServer) log() string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// mtSenderReplyText checks the exact text of the sender rule's reply,
// which miltertest cannot show before end of message: it plays the MTA
// over a raw connection (version 6, every action, no protocol option).
func mtSenderReplyText(t *testing.T, port int) {
	c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	port16 := string([]byte{12345 >> 8, 12345 & 0xff})
	steps := []struct {
		cmd      byte
		data     string
		wantCmd  byte
		wantData string // a prefix for option negotiation, else exact
	}{
		// Version 6; actions SMFIF_ADDHDRS|SMFIF_CHGHDRS|SMFIF_QUARANTINE,
		// what the configuration needs; no protocol option.
		{'O', mtBE32(6) + mtBE32(0x1ff) + mtBE32(0), 'O', mtBE32(6) + mtBE32(0x31) + mtBE32(0)},
		{'C', "client.example\x00" + "4" + port16 + "127.0.0.1\x00", 'c', ""},
		{'H', "client.example\x00", 'c', ""},
		{'M', "<spammer@example.com>\x00BODY=8BITMIME\x00", 'y', "550 5.7.1 Sender spammer@example.com refused\x00"},
	}
	for _, st := range steps {
		if err := mtWritePacket(c, st.cmd, st.data); err != nil {
			t.Fatalf("send %q: %v", st.cmd, err)
		}
		cmd, data, err := mtReadPacket(c)
		if err != nil {
			t.Fatalf("reply to %q: %v", st.cmd, err)
		}
		ok := cmd == st.wantCmd && data == st.wantData
		if st.cmd == 'O' {
			ok = cmd == st.wantCmd && strings.HasPrefix(data, st.wantData)
		}
		if !ok {
			t.Fatalf("reply to %q = %q %q, want %q %q", st.cmd, cmd, data, st.wantCmd, st.wantData)
		}
	}
	// Abort (no reply), then quit: sluice closes the connection.
	for _, cmd := range []byte{'A', 'Q'} {
		if err := mtWritePacket(c, cmd, ""); err != nil {
			t.Fatalf("send %q: %v", cmd, err)
		}
	}
	if cmd, data, err := mtReadPacket(c); !errors.Is(err, io.EOF) {
		t.Fatalf("after SMFIC_QUIT: read %q %q, %v; want the connection closed", cmd, data, err)
	}
}

func mtBE32(n uint32) string { return string(binary.BigEndian.AppendUint32(nil, n)) }

// mtWritePacket writes one milter packet: a 4-byte big-endian length (of the
// command byte and data), the command byte, the data.
func mtWritePacket(w io.Writer, cmd byte, data string) error {
	b := binary.BigEndian.AppendUint32(nil, uint32(1+len(data)))
	b = append(b, cmd)
	_, err := w.Write(append(b, data...))
	return err
}

// mtReadPacket reads one milter packet of at most 64 KiB.
func mtReadPacket(r io.Reader) (byte, string, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, "", err
	}
	n := binary.BigEndian.Uint32(hdr[:4])
	if n == 0 || n > 1<<16 {
		return 0, "", fmt.Errorf("packet length %d", n)
	}
	data := make([]byte, n-1)
	if _, err := io.ReadFull(r, data); err != nil {
		return 0, "", err
	}
	return hdr[4], string(data), nil
}
