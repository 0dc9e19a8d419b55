package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/config"
	"github.com/sluice-mta/sluice/smtpd"
)

// TestServeKeyEffects: every key config knows is placed on purpose: a key
// added to config fails here until serve says how it applies a change.
func TestServeKeyEffects(t *testing.T) {
	want := map[keyEffect][]string{
		effectLive: {"hostname", "log_level",
			"smtp.relay_domains", "smtp.trusted_networks", "smtp.xclient_hosts", "smtp.xforward_hosts",
			"smtp.max_message_size", "smtp.max_recipients", "smtp.max_connections", "smtp.max_connections_per_ip",
			"smtp.bare_lf", "smtp.tls.cert_file", "smtp.tls.key_file", "smtp.auth.users_file",
			"smtp.command_timeout", "smtp.data_timeout", "smtp.connection_timeout", "smtp.shutdown_timeout",
			"smtp.resolve_client_names", "smtp.dns_timeout",
			"smtp.verify_recipients", "smtp.verify_cache_ttl", "smtp.verify_negative_ttl", "smtp.verify_timeout", "smtp.verify_on_error", "filters.access", "filters.dkim", "filters.dmarc", "filters.dnsbl", "filters.greylist", "filters.headers", "filters.ratelimit", "filters.spf", "milters"},
		effectRestart: {"data_dir", "smtp.listen", "smtp.proxy_networks", "queue.dir", "queue.retry", "queue.max_age", "queue.log_max_message", "queue.segment_size",
			"downstream.address", "downstream.tls", "downstream.xclient", "downstream.xforward", "metrics.listen"},
		effectUnused: {"milter_server.listen", "milter_server.max_connections", "milter_server.read_timeout",
			"milter_server.write_timeout", "milter_server.shutdown_timeout", "milter_server.failure_action",
			"milter_server.progress_interval", "milter_server.max_packet"},
	}
	var listed []string
	for effect, keys := range want {
		for _, k := range keys {
			listed = append(listed, k)
			if got := serveKeyEffect(k); got != effect {
				t.Errorf("serveKeyEffect(%q) = %d, want %d", k, got, effect)
			}
		}
	}
	slices.Sort(listed)
	keys := slices.Sorted(slices.Values(config.Keys()))
	if !slices.Equal(listed, keys) {
		t.Errorf("keys placed here\n%q\nconfig.Keys()\n%q", listed, keys)
	}
	if got := serveKeyEffect("milters[3]"); got != effectLive {
		t.Errorf(`serveKeyEffect("milters[3]") = %d, want live`, got)
	}
}

// loadText loads a configuration file with body.
func loadText(t *testing.T, body string) *config.Config {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sluice.toml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(config.LoadOptions{File: path})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestKeepRunning: after keepRunning, a file whose restart-only keys all
// changed differs from the running configuration in live keys only.
func TestKeepRunning(t *testing.T) {
	running := loadText(t, "")
	next := loadText(t, `data_dir = "/elsewhere"
[smtp]
listen = ["127.0.0.1:1"]
proxy_networks = ["192.0.2.0/24"]
max_recipients = 3
[queue]
dir = "/q"
retry = ["1s"]
max_age = "1h"
[downstream]
address = "smtp://127.0.0.1:1"
tls = "none"
xclient = false
xforward = false
[metrics]
listen = "127.0.0.1:9"
`)
	keepRunning(next, running)
	if got := config.Changed(running, next); !slices.Equal(got, []string{"smtp.max_recipients"}) {
		t.Errorf("after keepRunning, changed %q, want only smtp.max_recipients", got)
	}
}

// nopSpool is a spool no test writes to.
type nopSpool struct{}

func (nopSpool) Create(context.Context) (smtpd.Draft, error) { return nil, errors.New("no spool") }

// syncBuf is a log buffer safe for the release goroutine.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testReloader runs a reloader over a server with no listener, loading
// what next returns.
func testReloader(t *testing.T, start *config.Config, next func() (*config.Config, error)) (*reloader, *syncBuf) {
	t.Helper()
	logs := &syncBuf{}
	level := new(slog.LevelVar)
	level.Set(start.LogLevel)
	env := serveEnv{log: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: level})), level: level, load: next}
	r, err := newSMTPServer(start, nopSpool{}, env)
	if err != nil {
		t.Fatal(err)
	}
	return r, logs
}

// TestReloaderAppliesAllOrNothing: a configuration that fails to load or
// to build leaves everything as it was; a good one replaces the live
// parts, keeps the restart-only ones, and reuses what did not change.
func TestReloaderAppliesAllOrNothing(t *testing.T) {
	start := loadText(t, "[smtp]\nrelay_domains = [\"example.org\"]\n")
	var next *config.Config
	var loadErr error
	r, logs := testReloader(t, start, func() (*config.Config, error) { return next, loadErr })
	first := r.cur

	loadErr = errors.New("sluice.toml: smtp.relay_domains[0]: bad domain")
	if err := r.reload(); err == nil || r.cur != first {
		t.Fatalf("load error: reload() = %v, live replaced: %v", err, r.cur != first)
	}
	loadErr = nil
	for _, body := range []string{
		"[smtp]\nrelay_domains = [\"example.net\"]\n[[filters.access.rules]]\nclient = \"192.0.2.1\"\naction = \"reject\"\nreply = \"250 ok\"\n",
		"[smtp]\nrelay_domains = [\"example.net\"]\n[smtp.tls]\ncert_file = \"/nonexistent/cert.pem\"\nkey_file = \"/nonexistent/key.pem\"\n",
		"[smtp]\nrelay_domains = [\"example.net\"]\n[smtp.auth]\nusers_file = \"/nonexistent/users\"\n",
	} {
		next = loadText(t, body)
		if err := r.reload(); err == nil || r.cur != first {
			t.Errorf("%q: reload() = %v, live replaced: %v", body, err, r.cur != first)
		}
	}

	next = loadText(t, "log_level = \"warn\"\n[smtp]\nrelay_domains = [\"example.net\"]\nlisten = [\"127.0.0.1:1\"]\n"+
		"[milter_server]\nread_timeout = \"1m\"\n")
	if err := r.reload(); err != nil {
		t.Fatal(err)
	}
	if got := r.cur.cfg.SMTP.RelayDomains; !slices.Equal(got, []string{"example.net"}) {
		t.Errorf("relay domains in force %q", got)
	}
	if got := r.cur.cfg.SMTP.Listen; !slices.Equal(got, []string{"127.0.0.1:2525"}) {
		t.Errorf("listen in force %q, want the running one", got)
	}
	if r.cur.chain != first.chain || r.cur.certs != first.certs {
		t.Error("the filter chain or the self-signed certificate was rebuilt though its keys did not change")
	}
	if r.level.Level() != slog.LevelWarn {
		t.Errorf("log level %v, want warn", r.level.Level())
	}
	out := logs.String()
	for _, want := range []string{
		`level=WARN msg="configuration change needs a restart; keeping the running value" key=smtp.listen`,
		`level=INFO msg="configuration reloaded" config=` + next.File + ` changed="log_level smtp.relay_domains" ignored=milter_server.read_timeout`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}

// TestReloaderNewChain: a changed filter table builds a new chain, and
// the old one is released at once when no session uses it.
func TestReloaderNewChain(t *testing.T) {
	start := loadText(t, "log_level = \"debug\"\n")
	var next *config.Config
	r, logs := testReloader(t, start, func() (*config.Config, error) { return next, nil })
	first := r.cur
	next = loadText(t, "log_level = \"debug\"\n[filters.headers]\nadd = [\"X-New: 1\"]\n")
	if err := r.reload(); err != nil {
		t.Fatal(err)
	}
	if r.cur.chain == first.chain {
		t.Fatal("the chain was kept though [filters.headers] changed")
	}
	for i := 0; !strings.Contains(logs.String(), `msg="previous filter chain released"`); i++ {
		if i == 500 {
			t.Fatalf("the old chain was not released:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), `msg="chain member" position=1 kind=built-in name=headers`) {
		t.Errorf("the new chain was not logged:\n%s", logs.String())
	}
}

// TestCheckConfigResolverKeys: check-config accepts the client name keys
// and names a bad one.
func TestCheckConfigResolverKeys(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "ok.toml", "[smtp]\nresolve_client_names = false\ndns_timeout = \"3s\"\n")
	check(t, sluice(t, dir, "check-config", "--config", "ok.toml"), result{0, "ok: ok.toml\n", ""})
	writeFile(t, dir, "bad.toml", "[smtp]\nresolve_client_names = 1\ndns_timeout = \"0s\"\n")
	check(t, sluice(t, dir, "check-config", "--config", "bad.toml"), result{1, "",
		"bad.toml: smtp.resolve_client_names: want true or false, got integer 1\nbad.toml: smtp.dns_timeout: must be > 0\n"})
}

// TestReloaderChainHeldAcrossReloads: a chain kept by one reload and
// replaced by the next is released only when the sessions of every
// earlier set of options that used it have ended.
func TestReloaderChainHeldAcrossReloads(t *testing.T) {
	start := loadText(t, "log_level = \"debug\"\n")
	var next *config.Config
	r, logs := testReloader(t, start, func() (*config.Config, error) { return next, nil })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- r.srv.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := r.srv.Shutdown(ctx); err != nil {
			t.Error(err)
		}
		<-served
	})
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	greeting := make([]byte, 64)
	if n, err := c.Read(greeting); err != nil || !strings.HasPrefix(string(greeting[:n]), "220 localhost ESMTP") {
		t.Fatalf("greeting %q, %v", greeting[:n], err)
	}
	next = loadText(t, "log_level = \"debug\"\n[smtp]\nmax_recipients = 2\n") // the chain stays
	if err := r.reload(); err != nil {
		t.Fatal(err)
	}
	next = loadText(t, "log_level = \"debug\"\n[filters]\n") // a new, empty chain
	if err := r.reload(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if strings.Contains(logs.String(), "previous filter chain released") {
		t.Fatalf("the first chain was released while a session of the first options uses it:\n%s", logs.String())
	}
	if _, err := c.Write([]byte("QUIT\r\n")); err != nil {
		t.Fatal(err)
	}
	for i := 0; !strings.Contains(logs.String(), `msg="previous filter chain released" filters=chain(headers)`); i++ {
		if i == 500 {
			t.Fatalf("the first chain was not released after its last session ended:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
