package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// freePort returns a loopback address nobody listens on (for a moment).
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// lockedBuf collects a child's stderr.
type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startSluice runs the binary with args in dir and stops it (SIGTERM,
// then by PID after 10s) when the test ends.
func startSluice(t *testing.T, dir string, args ...string) (*exec.Cmd, *lockedBuf) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = dir
	cmd.Env = cleanEnv()
	logs := &lockedBuf{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("exit: %v", err)
			}
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			t.Error("no exit within 10s of SIGTERM")
		}
		if t.Failed() {
			t.Logf("sluice log:\n%s", logs.String())
		}
	})
	return cmd, logs
}

// scrape reads /metrics at addr into name{labels} -> value, without the
// comments; ok is false while nothing listens yet.
func scrape(t *testing.T, addr string) (map[string]string, bool) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil, false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	out := map[string]string{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		out[line[:i]] = line[i+1:]
	}
	return out, true
}

// scrapeUntil scrapes until cond holds of the metrics, for at most 10s.
func scrapeUntil(t *testing.T, addr, what string, cond func(map[string]string) bool) map[string]string {
	t.Helper()
	var m map[string]string
	for i := 0; i < 500; i++ {
		var ok bool
		if m, ok = scrape(t, addr); ok && cond(m) {
			return m
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s; last scrape: %v", what, m)
	return nil
}

// smtpConn is a minimal SMTP client for a scripted session.
type smtpConn struct {
	t  *testing.T
	tp *textproto.Conn
}

func dialSMTP(t *testing.T, addr string) *smtpConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = nc.SetDeadline(time.Now().Add(30 * time.Second))
	c := &smtpConn{t: t, tp: textproto.NewConn(nc)}
	t.Cleanup(func() { c.tp.Close() })
	c.expect(220)
	return c
}

func (c *smtpConn) expect(code int) {
	c.t.Helper()
	if _, msg, err := c.tp.ReadResponse(code); err != nil {
		c.t.Fatalf("want %d: %v %s", code, err, msg)
	}
}

func (c *smtpConn) do(cmd string, code int) {
	c.t.Helper()
	if err := c.tp.PrintfLine("%s", cmd); err != nil {
		c.t.Fatal(err)
	}
	c.expect(code)
}

// TestServeMetrics runs `sluice serve` with [metrics] on loopback: one
// message queued and delivered with a recipient refused by relay
// control, a SIGHUP, then a message refused for a bare LF; the counters
// hold exactly that, and the runtime and process collectors are there.
func TestServeMetrics(t *testing.T) {
	dir := t.TempDir()
	smtpAddr, metricsAddr := freePort(t), freePort(t)
	writeFile(t, dir, "sluice.toml", fmt.Sprintf(`hostname = "mx.test"
data_dir = "./var"
[smtp]
listen = [%q]
relay_domains = ["example.org"]
trusted_networks = []
[downstream]
address = "maildir:./var/mail"
[metrics]
listen = %q
`, smtpAddr, metricsAddr))
	cmd, logs := startSluice(t, dir, "serve", "--config", "sluice.toml")
	initial := scrapeUntil(t, metricsAddr, "the endpoint", func(map[string]string) bool { return true })
	for _, k := range []string{`sluice_smtp_messages_total{result="queued"}`, `sluice_queue_deliveries_total{result="delivered"}`, "sluice_queue_messages"} {
		if initial[k] != "0" {
			t.Errorf("at start %s = %q, want 0", k, initial[k])
		}
	}

	c := dialSMTP(t, smtpAddr)
	c.do("EHLO client.test", 250)
	c.do("MAIL FROM:<a@example.net>", 250)
	c.do("RCPT TO:<b@example.org>", 250)
	c.do("RCPT TO:<x@other.test>", 554)
	c.do("DATA", 354)
	c.do("Subject: metrics\r\n\r\nhello\r\n.", 250)
	c.do("QUIT", 221)

	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLog(t, logs, "configuration reloaded")
	c = dialSMTP(t, smtpAddr)
	c.do("EHLO client.test", 250)
	c.do("MAIL FROM:<a@example.net>", 250)
	c.do("RCPT TO:<b@example.org>", 250)
	c.do("DATA", 354)
	c.do("Subject: bare\r\n\r\nbare\nLF\r\n.", 550)
	c.do("QUIT", 221)

	m := scrapeUntil(t, metricsAddr, "the delivery and both sessions' end", func(m map[string]string) bool {
		return m[`sluice_queue_deliveries_total{result="delivered"}`] == "1" && m["sluice_smtp_connections_open"] == "0"
	})
	size := regexp.MustCompile(`smtpd: queued".* size=(\d+)`).FindStringSubmatch(logs.String())
	if size == nil {
		t.Fatal("no queued line in the log")
	}
	want := map[string]string{
		`sluice_smtp_connections_total{result="accepted"}`:   "2",
		`sluice_smtp_connections_total{result="refused"}`:    "0",
		"sluice_smtp_connections_open":                       "0",
		`sluice_smtp_recipients_rejected_total{class="5xx"}`: "1",
		`sluice_smtp_recipients_rejected_total{class="4xx"}`: "0",
		`sluice_smtp_messages_total{result="queued"}`:        "1",
		`sluice_smtp_messages_total{result="rejected"}`:      "1",
		`sluice_smtp_messages_total{result="tempfailed"}`:    "0",
		`sluice_smtp_messages_total{result="discarded"}`:     "0",
		"sluice_smtp_message_bytes_total":                    size[1],
		`sluice_queue_deliveries_total{result="delivered"}`:  "1",
		`sluice_queue_deliveries_total{result="deferred"}`:   "0",
		`sluice_queue_deliveries_total{result="bounced"}`:    "0",
		`sluice_queue_dsns_total{kind="failed"}`:             "0",
		"sluice_queue_messages":                              "0",
		`sluice_milter_connections_total{result="accepted"}`: "",
		`go_info{version="` + goVersion(m) + `"}`:            "1",
		"process_start_time_seconds":                         m["process_start_time_seconds"],
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %q, want %q", k, m[k], v)
		}
	}
	if m["process_start_time_seconds"] == "" || m["go_goroutines"] == "" {
		t.Error("runtime or process collector missing")
	}
	resp, err := http.Get("http://" + metricsAddr + "/")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /: %s, want 404", resp.Status)
	}
}

// goVersion is the version label of go_info.
func goVersion(m map[string]string) string {
	for k := range m {
		if v, ok := strings.CutPrefix(k, `go_info{version="`); ok {
			return strings.TrimSuffix(v, `"}`)
		}
	}
	return "?"
}

// waitLog waits up to 10s for s in the log.
func waitLog(t *testing.T, logs *lockedBuf, s string) {
	t.Helper()
	for i := 0; i < 500; i++ {
		if strings.Contains(logs.String(), s) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no %q in the log", s)
}

// TestMilterMetrics runs `sluice milter` with [metrics] and drives one
// message through it with `sluice milter-test`.
func TestMilterMetrics(t *testing.T) {
	dir := t.TempDir()
	metricsAddr := freePort(t)
	sock := filepath.Join(dir, "m.sock")
	writeFile(t, dir, "sluice.toml", fmt.Sprintf("[filters.headers]\nadd = [\"X-Filtered-By: sluice\"]\n[metrics]\nlisten = %q\n", metricsAddr))
	startSluice(t, dir, "milter", "--config", "sluice.toml", "--listen", "unix:"+sock)
	scrapeUntil(t, metricsAddr, "the endpoint", func(map[string]string) bool { return true })
	if r := sluice(t, dir, "milter-test", "unix:"+sock); r.code != 0 {
		t.Fatalf("milter-test: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	m := scrapeUntil(t, metricsAddr, "the connection's end", func(m map[string]string) bool {
		return m["sluice_milter_connections_open"] == "0" && m[`sluice_milter_connections_total{result="accepted"}`] == "1"
	})
	want := map[string]string{
		`sluice_milter_connections_total{result="refused"}`:            "0",
		`sluice_milter_verdicts_total{stage="eom",verdict="continue"}`: "1",
		`sluice_smtp_messages_total{result="queued"}`:                  "",
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %q, want %q", k, m[k], v)
		}
	}
	if m["go_goroutines"] == "" {
		t.Error("runtime collector missing")
	}
}
