package main

import (
	"bufio"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pelletier/go-toml/v2"

	"github.com/sluice-mta/sluice/config"
	"github.com/sluice-mta/sluice/tls"
)

// The production example and the systemd units, relative to this package.
const (
	contribDir     = "../../contrib"
	contribExample = contribDir + "/sluice.toml"
)

// TestContribConfig: contrib/sluice.toml, with its /etc/sluice and
// /var/lib/sluice paths moved into a temporary directory that holds a
// certificate and a DKIM key, loads without an error (an unknown or
// renamed key is one), builds every filter and the TLS certificates as
// `sluice serve` does, passes `sluice check-config`, and says what an
// operator in front of Postfix needs.
func TestContribConfig(t *testing.T) {
	dir := t.TempDir()
	text := localize(readContrib(t, "sluice.toml"), dir)
	cfg := loadContrib(t, dir, "sluice.toml", text)

	want := []struct {
		key       string
		got, want any
	}{
		{"hostname", cfg.Hostname, "mx.example.org"},
		{"data_dir", cfg.DataDir, filepath.Join(dir, "var")},
		{"smtp.listen", cfg.SMTP.Listen, []string{"[::]:25"}},
		{"smtp.tls.cert_file", cfg.SMTP.TLS.CertFile, filepath.Join(dir, "etc/cert.pem")},
		{"smtp.tls.key_file", cfg.SMTP.TLS.KeyFile, filepath.Join(dir, "etc/key.pem")},
		{"queue.dir", cfg.Queue.Dir, filepath.Join(dir, "var/spool")},
		{"downstream.address", cfg.Downstream.Address, "smtp://127.0.0.1:10025"},
		{"downstream.xclient", cfg.Downstream.XClient, true},
		{"metrics.listen", cfg.Metrics.Listen, "127.0.0.1:9425"},
		{"filters.greylist.state_file", cfg.Filters.Greylist.StateFile, filepath.Join(dir, "var/greylist.db")},
		{"filters.dnsbl.zones", cfg.Filters.DNSBL.Zones, []string{"zen.spamhaus.org=127.0.0.[2..11]"}},
		{"filters.dkim.keys", cfg.Filters.DKIM.Keys, []config.DKIMKey{{Domain: "example.org", Selector: "mail",
			KeyFile: filepath.Join(dir, "etc/dkim/example.org.mail.pem")}}},
		{"milters", len(cfg.Milters), 0}, // the example's [[milters]] is commented out
	}
	for _, w := range want {
		if !reflect.DeepEqual(w.got, w.want) {
			t.Errorf("%s = %#v, want %#v", w.key, w.got, w.want)
		}
	}
	writeContribSecrets(t, cfg)
	buildContrib(t, cfg, "chain(ratelimit,dnsbl,spf,greylist,headers,dkim,dmarc)")

	// The command an operator runs, on the same file.
	check(t, sluice(t, dir, "check-config", "--config", "sluice.toml"), result{0, "ok: sluice.toml\n", ""})
}

// TestContribConfigMilter: the commented [[milters]] example of
// contrib/sluice.toml, uncommented, loads and builds too.
func TestContribConfigMilter(t *testing.T) {
	dir := t.TempDir()
	text := uncommentMilters(t, localize(readContrib(t, "sluice.toml"), dir))
	cfg := loadContrib(t, dir, "sluice.toml", text)
	if len(cfg.Milters) != 1 {
		t.Fatalf("milters = %+v, want the one uncommented entry", cfg.Milters)
	}
	m := cfg.Milters[0]
	if m.Name != "rspamd" || m.Address.Spec != "inet:11332@127.0.0.1" || m.DefaultAction != "accept" || m.EOMTimeout != 2*time.Minute {
		t.Errorf("milters[0] = %+v, want rspamd at inet:11332@127.0.0.1, accept, eom 2m", m)
	}
	writeContribSecrets(t, cfg)
	buildContrib(t, cfg, "chain(ratelimit,dnsbl,spf,greylist,headers,dkim,dmarc,rspamd)")
}

// TestContribConfigComplete: the example sets every key of the contract
// (config.Keys) and the filters the README describes, so it stays a
// complete reference when keys are added.
func TestContribConfigComplete(t *testing.T) {
	var raw map[string]any
	if err := toml.Unmarshal([]byte(uncommentMilters(t, readContrib(t, "sluice.toml"))), &raw); err != nil {
		t.Fatal(err)
	}
	for _, key := range append(config.Keys(), "filters.ratelimit", "filters.dnsbl", "filters.spf",
		"filters.greylist", "filters.headers", "filters.dkim", "filters.dmarc") {
		if strings.HasPrefix(key, "filters.") && !isBriefFilter(key) {
			continue // a filter the example does not turn on
		}
		if !hasKey(raw, key) {
			t.Errorf("contrib/sluice.toml does not set %s: add it, with a comment", key)
		}
	}
}

// isBriefFilter reports whether the example must turn the filter on.
func isBriefFilter(key string) bool {
	switch key {
	case "filters.ratelimit", "filters.dnsbl", "filters.spf", "filters.greylist",
		"filters.headers", "filters.dkim", "filters.dmarc":
		return true
	}
	return false
}

// hasKey reports whether the dotted key is set in the decoded TOML.
func hasKey(raw map[string]any, key string) bool {
	var cur any = raw
	for _, part := range strings.Split(key, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return false
		}
		if cur, ok = m[part]; !ok {
			return false
		}
	}
	return true
}

// TestContribConfigComments: every key of contrib/sluice.toml, the
// commented [[milters]] example included, is documented by a comment on
// its line or on the line before.
func TestContribConfigComments(t *testing.T) {
	text := uncommentMilters(t, readContrib(t, "sluice.toml"))
	prevComment := false
	for i, line := range strings.Split(text, "\n") {
		s := strings.TrimSpace(line)
		isComment := strings.HasPrefix(s, "#")
		if s != "" && !isComment && !strings.HasPrefix(s, "[") {
			if !strings.Contains(s, "=") {
				t.Errorf("line %d: %q: want key = value", i+1, s)
			} else if !strings.Contains(s, " # ") && !prevComment {
				t.Errorf("line %d: %q: no comment on the line or the one before", i+1, s)
			}
		}
		prevComment = isComment
	}
}

// TestContribSystemdUnits: the units start the commands with the
// example's file, reload with SIGHUP, wait longer than the drain, allow
// more descriptors than connections, and pass `systemd-analyze verify`
// when it is installed.
func TestContribSystemdUnits(t *testing.T) {
	dir := t.TempDir()
	cfg := loadContrib(t, dir, "sluice.toml", localize(readContrib(t, "sluice.toml"), dir))
	units := []struct {
		file, exec string
		drain      time.Duration
		conns      int
	}{
		{"sluice.service", "/usr/local/bin/sluice serve --config /etc/sluice/sluice.toml",
			cfg.SMTP.ShutdownTimeout, cfg.SMTP.MaxConnections},
		{"sluice-milter.service", "/usr/local/bin/sluice milter --config /etc/sluice/sluice.toml",
			cfg.MilterServer.ShutdownTimeout, cfg.MilterServer.MaxConnections},
	}
	for _, u := range units {
		t.Run(u.file, func(t *testing.T) {
			text := readContrib(t, "systemd/"+u.file)
			keys := unitKeys(text)
			for k, v := range map[string]string{
				"Type": "simple", "ExecStart": u.exec, "ExecReload": "/bin/kill -HUP $MAINPID",
				"KillSignal": "SIGTERM", "User": "sluice", "StateDirectory": "sluice",
				"ReadWritePaths": "/var/lib/sluice", "NoNewPrivileges": "yes", "ProtectSystem": "strict",
				"ProtectHome": "yes", "PrivateTmp": "yes", "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
			} {
				if got := keys[k]; len(got) != 1 || got[0] != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			if stop, err := time.ParseDuration(first(keys["TimeoutStopSec"])); err != nil || stop <= u.drain {
				t.Errorf("TimeoutStopSec = %q, want a duration above the shutdown timeout %v", keys["TimeoutStopSec"], u.drain)
			}
			if n, err := strconv.Atoi(first(keys["LimitNOFILE"])); err != nil || n < 2*u.conns {
				t.Errorf("LimitNOFILE = %q, want at least twice max_connections (%d)", keys["LimitNOFILE"], u.conns)
			}
			verifyUnit(t, u.file, text)
		})
	}
	if got := unitKeys(readContrib(t, "systemd/sluice.service"))["AmbientCapabilities"]; !reflect.DeepEqual(got, []string{"CAP_NET_BIND_SERVICE"}) {
		t.Errorf("sluice.service AmbientCapabilities = %q, want CAP_NET_BIND_SERVICE (port 25)", got)
	}
}

func first(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}

// unitKeys returns the Key=value lines of a unit file, values in order.
func unitKeys(text string) map[string][]string {
	keys := map[string][]string{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' || line[0] == '[' {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			keys[k] = append(keys[k], v)
		}
	}
	return keys
}

// verifyUnit runs `systemd-analyze verify` on a copy of the unit whose
// ExecStart names the binary under test (verify checks that it exists),
// and fails on any complaint about the unit: verify exits 0 on unknown
// keys and bad values, and only prints them.
func verifyUnit(t *testing.T, name, text string) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed (Debian package systemd): unit not verified")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, name)
	writeFile(t, dir, name, strings.ReplaceAll(text, "/usr/local/bin/sluice", binary))
	out, err := exec.Command(sa, "verify", "--man=no", path).CombinedOutput()
	if err != nil {
		t.Errorf("systemd-analyze verify %s: %v\n%s", name, err, out)
		return
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		switch {
		case strings.Contains(line, path) || strings.HasPrefix(line, name+":"):
			t.Errorf("systemd-analyze verify: %s", line)
		case line != "":
			t.Logf("systemd-analyze verify (other units): %s", line)
		}
	}
}

// readContrib returns a file under contrib/.
func readContrib(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(contribDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// localize moves the example's production paths into dir: /etc/sluice/X
// becomes dir/etc/X and /var/lib/sluice becomes dir/var. Only quoted
// values change; comments keep the production paths.
func localize(text, dir string) string {
	return strings.NewReplacer(
		`"/etc/sluice/`, `"`+filepath.ToSlash(filepath.Join(dir, "etc"))+`/`,
		`"/var/lib/sluice`, `"`+filepath.ToSlash(filepath.Join(dir, "var")),
	).Replace(text)
}

// uncommentMilters turns the commented [[milters]] example (from the line
// "# [[milters]]" to the first line not starting with "# ") into TOML.
func uncommentMilters(t *testing.T, text string) string {
	t.Helper()
	lines := strings.Split(text, "\n")
	start := -1
	for i, l := range lines {
		if l == "# [[milters]]" {
			start = i
			break
		}
	}
	if start < 0 {
		t.Fatalf("%s: no commented \"# [[milters]]\" example", contribExample)
	}
	for i := start; i < len(lines) && strings.HasPrefix(lines[i], "# "); i++ {
		lines[i] = strings.TrimPrefix(lines[i], "# ")
	}
	return strings.Join(lines, "\n")
}

// loadContrib writes text to dir/name and loads it as every command does,
// with no SLUICE_* variable in the way.
func loadContrib(t *testing.T, dir, name, text string) *config.Config {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, config.EnvPrefix+"_") {
			t.Setenv(k, "") // restored after the test
			os.Unsetenv(k)
		}
	}
	writeFile(t, dir, name, text)
	cfg, err := config.Load(config.LoadOptions{File: filepath.Join(dir, name)})
	if err != nil {
		t.Fatalf("%s does not load:\n%v", contribExample, err)
	}
	return cfg
}

// writeContribSecrets creates what the example's paths name: a
// self-signed certificate and its key, the DKIM keys (2048-bit RSA, mode
// 0600 so the filter does not warn), and data_dir.
func writeContribSecrets(t *testing.T, cfg *config.Config) {
	t.Helper()
	root := filepath.Dir(cfg.File) + string(filepath.Separator)
	for _, p := range append([]string{cfg.SMTP.TLS.CertFile, cfg.SMTP.TLS.KeyFile, cfg.DataDir}, dkimFiles(cfg)...) {
		if !strings.HasPrefix(p, root) {
			t.Fatalf("%s names %s: keep the example's files under /etc/sluice and /var/lib/sluice, which the test moves", contribExample, p)
		}
	}
	cert, err := tls.SelfSigned(cfg.Hostname)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, cfg.SMTP.TLS.CertFile, "CERTIFICATE", cert.Certificate[0])
	writePEM(t, cfg.SMTP.TLS.KeyFile, "PRIVATE KEY", pkcs8(t, cert.PrivateKey))
	for _, k := range cfg.Filters.DKIM.Keys {
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		writePEM(t, k.KeyFile, "PRIVATE KEY", pkcs8(t, key))
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		t.Fatal(err)
	}
}

func dkimFiles(cfg *config.Config) []string {
	var out []string
	for _, k := range cfg.Filters.DKIM.Keys {
		out = append(out, k.KeyFile)
	}
	return out
}

func pkcs8(t *testing.T, key any) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// buildContrib builds what `sluice serve` builds from cfg before it
// listens: the filter chain (built-ins and milters, named wantChain)
// and the TLS certificates; then releases the chain.
func buildContrib(t *testing.T, cfg *config.Config, wantChain string) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	l, err := buildLive(cfg, nil, nil, log)
	if err != nil {
		t.Fatalf("%s does not build:\n%v", contribExample, err)
	}
	if l.certs.SelfSigned() {
		t.Errorf("the certificate files were not used")
	}
	if got := l.chain.Name(); got != wantChain {
		t.Errorf("chain = %q, want %q", got, wantChain)
	}
	if err := l.chain.Close(); err != nil {
		t.Errorf("closing the chain: %v", err)
	}
}

// TestContribPostfix: the main.cf and master.cf snippets of
// contrib/README.md parse with postconf, without a warning (an unknown
// or misspelt parameter is one), and authorize sluice's XCLIENT.
func TestContribPostfix(t *testing.T) {
	pc, err := exec.LookPath("postconf")
	if err != nil {
		t.Skip("postconf not installed (Debian package postfix): Postfix snippets not checked")
	}
	readme := readContrib(t, "README.md")
	dir := t.TempDir()
	writeFile(t, dir, "main.cf", "compatibility_level = 3.6\n"+fencedBlock(t, readme, "main.cf"))
	writeFile(t, dir, "master.cf", fencedBlock(t, readme, "master.cf"))
	for _, args := range [][]string{{"-n"}, {"-M"}, {"-P"}} {
		out, err := exec.Command(pc, append([]string{"-c", dir}, args...)...).CombinedOutput()
		if err != nil || strings.Contains(string(out), "warning") {
			t.Errorf("postconf %s: %v\n%s", args[0], err, out)
		}
	}
	out, err := exec.Command(pc, "-c", dir, "-P", "127.0.0.1:10025/inet/smtpd_authorized_xclient_hosts").CombinedOutput()
	if got, want := string(out), "127.0.0.1:10025/inet/smtpd_authorized_xclient_hosts = 127.0.0.1\n"; err != nil || got != want {
		t.Errorf("postconf -P: %v %q, want %q", err, got, want)
	}
}

// fencedBlock returns the body of the one ```info block of a Markdown text.
func fencedBlock(t *testing.T, md, info string) string {
	t.Helper()
	_, rest, ok := strings.Cut(md, "\n```"+info+"\n")
	body, _, closed := strings.Cut(rest, "\n```\n")
	if !ok || !closed {
		t.Fatalf("contrib/README.md: no ```%s block", info)
	}
	return body + "\n"
}
