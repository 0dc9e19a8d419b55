package peer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// toolTimeout bounds one run of a helper program (postfix, postconf,
// postqueue, swaks). The CI machine is slow; a healthy run takes well under
// a second.
const toolTimeout = 2 * time.Minute

// sbinDirs lists the directories searched after $PATH: Postfix installs
// its commands in /usr/sbin, which a non-login PATH may lack.
func sbinDirs() []string { return []string{"/usr/sbin", "/sbin"} }

// debianPackage names the Debian package that ships program.
func debianPackage(program string) string {
	switch program {
	case "postfix", "postconf", "postqueue", "postsuper", "postmap",
		"postmulti", "postcat", "sendmail", "smtp-sink", "smtp-source":
		return "postfix"
	case "opendkim-genkey", "opendkim-testkey":
		return "opendkim-tools"
	default:
		return program
	}
}

// lookPath finds program in $PATH or in the sbin directories.
func lookPath(program string) (string, error) {
	if p, err := exec.LookPath(program); err == nil {
		return p, nil
	}
	for _, dir := range sbinDirs() {
		p := filepath.Join(dir, program)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: not found in $PATH or %s", program, strings.Join(sbinDirs(), ", "))
}

// Need skips the test unless every program is installed, naming the Debian
// package to install.
func Need(t testing.TB, programs ...string) {
	t.Helper()
	for _, p := range programs {
		if _, err := lookPath(p); err != nil {
			t.Skipf("needs %s (Debian package %s): not installed", p, debianPackage(p))
		}
	}
}

// mustLookPath is lookPath for a program Need has already checked.
func mustLookPath(t testing.TB, program string) string {
	t.Helper()
	Need(t, program)
	p, err := lookPath(program)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago. A
// port can be taken again before it is used; the Start functions retry
// with a new port when that happens.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("peer: find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// runTool runs a program with a timeout and returns its standard output
// and standard error, interleaved. Output goes to a file rather than a
// pipe, so a daemon that the program leaves behind (postfix start) cannot
// hold the call open.
func runTool(timeout time.Duration, program string, args ...string) (string, error) {
	out, err := os.CreateTemp("", "peer-out-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(out.Name())
	defer out.Close()

	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, program, args...)
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.WaitDelay = 10 * time.Second
	runErr := cmd.Run()
	text, readErr := os.ReadFile(out.Name())
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		runErr = fmt.Errorf("timed out after %v: %w", timeout, runErr)
	}
	if runErr != nil {
		runErr = fmt.Errorf("%s %s: %w", filepath.Base(program), strings.Join(args, " "), runErr)
	}
	return string(text), errors.Join(runErr, readErr)
}

// Swaks runs swaks with args and a bounded time, and returns its
// transcript (standard output and standard error, interleaved). The error
// is non-nil when swaks exits non-zero (as it does when the server rejects
// a command) or times out; it wraps *exec.ExitError.
//
// Mind what swaks does to --data: it always sends a CRLF before the final
// ".", so a file without a final newline arrives with one CRLF added (and
// one that ends in CRLF arrives with an empty line added); it turns bare
// LF into CRLF, a literal \n or %NEWLINE% into CRLF, expands its %TOKENS%,
// drops a leading "From " line, and does not dot-stuff the first line.
func Swaks(t testing.TB, args ...string) (string, error) {
	t.Helper()
	return runTool(toolTimeout, mustLookPath(t, "swaks"), args...)
}

// pollInterval is how often the Wait helpers look again.
const pollInterval = 25 * time.Millisecond

// waitFor calls done until it reports true or timeout passes, and reports
// whether it did.
func waitFor(timeout time.Duration, done func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if done() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(pollInterval)
	}
}

// splitHostPort splits host:port and checks that the port is a number.
func splitHostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 1 || port > 65535 {
		return "", 0, fmt.Errorf("bad port in %q", addr)
	}
	return host, port, nil
}
