package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"
	"time"
)

// testVersion is stamped into the binary the tests run.
const testVersion = "v0.0.0-test"

// binary is the sluice binary TestMain builds; set once before any test.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sluice-cmd-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "sluice")
	code := 1
	if err := build(binary); err != nil {
		fmt.Fprintln(os.Stderr, err)
	} else {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// build compiles this command to out, with the test version stamped in.
func build(out string) error {
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	cmd := exec.Command(goTool, "build", "-buildvcs=false", "-ldflags", "-X main.version="+testVersion, "-o", out, ".")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, b)
	}
	return nil
}

type result struct {
	code           int
	stdout, stderr string
}

// sluice runs the binary in dir with args and an environment free of
// SLUICE_* variables.
func sluice(t *testing.T, dir string, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = dir
	cmd.Env = cleanEnv()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("run sluice %v: %v", args, err)
	}
	return result{code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String()}
}

func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SLUICE_") {
			env = append(env, kv)
		}
	}
	return env
}

func writeFile(t *testing.T, dir, name, body string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

func check(t *testing.T, got result, want result) {
	t.Helper()
	if got != want {
		t.Errorf("got exit %d\nstdout: %q\nstderr: %q\nwant exit %d\nstdout: %q\nstderr: %q",
			got.code, got.stdout, got.stderr, want.code, want.stdout, want.stderr)
	}
}

func TestVersion(t *testing.T) {
	want := fmt.Sprintf("sluice %s\ngo: %s %s/%s\n", testVersion, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	check(t, sluice(t, t.TempDir(), "version"), result{code: 0, stdout: want})
}

func TestVersionText(t *testing.T) {
	goLine := fmt.Sprintf("go: %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	info := &debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.modified", Value: "true"},
	}}
	tests := []struct {
		name string
		ld   string
		info *debug.BuildInfo
		want string
	}{
		{"ldflags win", "v9.9.9", info, "sluice v9.9.9\n" + goLine + "commit: abc123 (modified)\n"},
		{"build info", "", info, "sluice v1.2.3\n" + goLine + "commit: abc123 (modified)\n"},
		{"devel", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "sluice (devel)\n" + goLine},
		{"no info", "", nil, "sluice (devel)\n" + goLine},
		{"clean commit", "", &debug.BuildInfo{Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "def"}}},
			"sluice (devel)\n" + goLine + "commit: def\n"},
	}
	for _, tt := range tests {
		if got := versionText(tt.ld, tt.info); got != tt.want {
			t.Errorf("%s: versionText() = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "good.toml", "hostname = \"mx.example.org\"\n[milter_server]\nlisten = \"unix:/run/sluice.sock\"\n")
	writeFile(t, dir, "sluice.toml", "[smtp]\nmax_recipients = -1\n"+
		"[[filters.access.rules]]\nclient = \"192.0.2.1\"\naction = \"reject\"\n"+
		"[[filters.access.rules]]\nclient = \"192.0.2.2\"\naction = \"reject\"\n"+
		"[[filters.access.rules]]\nhelo = \"x\"\naction = \"rejct\"\n")
	tests := []struct {
		name string
		args []string
		want result
	}{
		{"defaults", []string{"check-config"}, result{0, "ok: built-in defaults\n", ""}},
		{"good file", []string{"check-config", "--config", "good.toml"}, result{0, "ok: good.toml\n", ""}},
		{"bad file", []string{"check-config", "--config", "sluice.toml"}, result{1, "",
			"sluice.toml: smtp.max_recipients: must be > 0, got -1\n" +
				"sluice.toml: filters.access.rules[2].action: unknown action \"rejct\" (want reject, tempfail, discard, quarantine, accept)\n"}},
		{"bad flag value", []string{"check-config", "--log-level", "loud"}, result{1, "",
			"flag --log-level: log_level: unknown log level \"loud\" (want debug, info, warn, error)\n"}},
		{"missing file", []string{"check-config", "--config", "nope.toml"}, result{1, "", "open nope.toml: no such file or directory\n"}},
		{"extra argument", []string{"check-config", "x.toml"}, result{2, "",
			"sluice check-config: unexpected argument \"x.toml\"\nRun 'sluice --help' for usage.\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, sluice(t, dir, tt.args...), tt.want)
		})
	}
}

// TestCheckConfigBuildsFilters: options only the filter itself judges
// (here a domain with an empty label) fail check-config too, with the file
// and key named as config names them.
func TestCheckConfigBuildsFilters(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "filter.toml", "[[filters.access.rules]]\nsender = \"user@..example.org\"\naction = \"reject\"\n")
	check(t, sluice(t, dir, "check-config", "--config", "filter.toml"), result{1, "",
		`filter.toml: filters.access.rules[0].sender: pattern "user@..example.org": domain "..example.org": empty label (leading, trailing or double dot)` + "\n"})
}

func TestCheckConfigEnv(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "env.toml", "[smtp]\nbare_lf = \"sometimes\"\n")
	cmd := exec.Command(binary, "check-config")
	cmd.Dir = dir
	cmd.Env = append(cleanEnv(), "SLUICE_CONFIG=env.toml", "SLUICE_SMTP_MAX_RECIPIENTS=0")
	out, err := cmd.CombinedOutput()
	want := "env.toml: smtp.bare_lf: unknown policy \"sometimes\" (want reject, normalize)\n" +
		"$SLUICE_SMTP_MAX_RECIPIENTS: smtp.max_recipients: must be > 0, got 0\n"
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !sameLines(string(out), want) {
		t.Errorf("check-config with SLUICE_CONFIG: err %v, output\n%s\nwant exit 1 and\n%s", err, out, want)
	}
}

// sameLines compares outputs as sets of lines (error order follows the
// schema, not the layers).
func sameLines(a, b string) bool {
	la, lb := strings.Split(a, "\n"), strings.Split(b, "\n")
	if len(la) != len(lb) {
		return false
	}
	seen := map[string]int{}
	for _, l := range la {
		seen[l]++
	}
	for _, l := range lb {
		seen[l]--
	}
	for _, n := range seen {
		if n != 0 {
			return false
		}
	}
	return true
}

func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		args []string
		want result
	}{
		{"unknown command", []string{"frobnicate"}, result{2, "", "sluice: unknown command \"frobnicate\"\nRun 'sluice --help' for usage.\n"}},
		{"unknown flag", []string{"version", "--frob"}, result{2, "", "sluice version: unknown flag: --frob\nRun 'sluice --help' for usage.\n"}},
		{"serve with an argument", []string{"serve", "now"}, result{2, "", "sluice serve: unexpected argument \"now\"\nRun 'sluice --help' for usage.\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check(t, sluice(t, dir, tt.args...), tt.want)
		})
	}
}

func TestHelp(t *testing.T) {
	r := sluice(t, t.TempDir())
	if r.code != 2 || r.stdout != "" || !strings.Contains(r.stderr, "Available Commands:") {
		t.Errorf("no arguments: exit %d, stdout %q, stderr %q; want 2 and help on stderr", r.code, r.stdout, r.stderr)
	}
	r = sluice(t, t.TempDir(), "--help")
	for _, c := range []string{"serve", "milter", "milter-test", "queue", "check-config", "version"} {
		if r.code != 0 || !strings.Contains(r.stdout, "\n  "+c+" ") {
			t.Errorf("--help: exit %d, command %q missing from\n%s", r.code, c, r.stdout)
		}
	}
}

func TestMilterBadConfig(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "bad.toml", "[milter_server]\nlisten = \"inet:8890@\"\n")
	check(t, sluice(t, dir, "milter", "--config", "bad.toml"), result{1, "",
		"bad.toml: milter_server.listen: bad socket \"inet:8890@\": empty host after @\n"})
	check(t, sluice(t, dir, "milter", "--listen", "8890"), result{1, "",
		"flag --listen: milter_server.listen: bad socket \"8890\" (want unix:/path, inet:port@host or inet6:port@host)\n"})
}

// TestMilterSignal starts `sluice milter` on a unix socket, waits for the
// socket, sends SIGTERM and expects a clean exit.
func TestMilterSignal(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "m.sock")
	cmd := exec.Command(binary, "milter", "--listen", "unix:"+sock, "--log-level", "debug")
	cmd.Env = cleanEnv()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-done
			t.Fatalf("socket %s not created within 10s; stderr:\n%s", sock, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v; stderr:\n%s", err, stderr.String())
		}
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("no exit within 10s of SIGTERM; stderr:\n%s", stderr.String())
	}
}
