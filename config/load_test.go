package config

import (
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// writeConfig writes body to sluice.toml in a fresh directory.
func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sluice.toml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// clearEnv hides any SLUICE_* variable of the caller's environment (an
// empty variable counts as unset).
func clearEnv(t *testing.T) {
	t.Helper()
	for k := range scalarDefaults() {
		t.Setenv(EnvName(k), "")
	}
}

func prefixes(s ...string) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(s))
	for _, p := range s {
		out = append(out, netip.MustParsePrefix(p))
	}
	return out
}

func defaultConfig() *Config {
	return &Config{
		Hostname: "localhost",
		DataDir:  "./var",
		LogLevel: slog.LevelInfo,
		SMTP: SMTP{
			Listen:              []string{"127.0.0.1:2525"},
			RelayDomains:        []string{},
			TrustedNetworks:     prefixes("127.0.0.0/8", "::1/128"),
			XClientHosts:        []netip.Prefix{},
			XForwardHosts:       []netip.Prefix{},
			MaxMessageSize:      50 << 20,
			MaxRecipients:       1000,
			MaxConnections:      1000,
			MaxConnectionsPerIP: 50,
			BareLF:              "reject",
			CommandTimeout:      5 * time.Minute,
			DataTimeout:         5 * time.Minute,
			ConnectionTimeout:   time.Hour,
			ShutdownTimeout:     30 * time.Second,
			ResolveClientNames:  true,
			DNSTimeout:          5 * time.Second,
			ProxyNetworks:       []netip.Prefix{},
			VerifyCacheTTL:      time.Hour,
			VerifyNegativeTTL:   10 * time.Minute,
			VerifyTimeout:       30 * time.Second,
			VerifyOnError:       "tempfail",
		},
		Queue: Queue{
			Dir:    filepath.Join("var", "spool"),
			Retry:  []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute, time.Hour, 4 * time.Hour},
			MaxAge: 5 * 24 * time.Hour,
			// Options of the queue's log.
			LogMaxMessage: 128 << 10,
			SegmentSize:   64 << 20,
		},
		Downstream: Downstream{
			Address:  "maildir:./var/mail",
			Target:   Target{Kind: "maildir", Addr: "./var/mail"},
			TLS:      "opportunistic",
			XClient:  true,
			XForward: true,
		},
		Milters: []Milter{},
		MilterServer: MilterServer{
			Listen:           Socket{Spec: "inet:8890@127.0.0.1", Network: "tcp", Address: "127.0.0.1:8890"},
			MaxConnections:   1000,
			ReadTimeout:      7 * time.Minute,
			WriteTimeout:     30 * time.Second,
			ShutdownTimeout:  30 * time.Second,
			FailureAction:    "tempfail",
			ProgressInterval: 10 * time.Second,
			MaxPacket:        0,
		},
		Filters: Filters{Headers: &HeadersFilter{Add: []HeaderField{{Name: "X-Filtered-By", Value: "sluice"}}}},
	}
}

func TestLoadDefaults(t *testing.T) {
	clearEnv(t)
	got, err := Load(LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := defaultConfig(); !reflect.DeepEqual(got, want) {
		t.Errorf("Load() =\n%+v\nwant\n%+v", got, want)
	}
	// The contract's defaults stay on loopback.
	if !netip.MustParseAddrPort(got.SMTP.Listen[0]).Addr().IsLoopback() ||
		!netip.MustParseAddrPort(got.MilterServer.Listen.Address).Addr().IsLoopback() {
		t.Errorf("default listeners not on loopback: %v, %v", got.SMTP.Listen, got.MilterServer.Listen)
	}
}

const fullConfig = `
hostname = "mx.example.org"
data_dir = "/srv/sluice"
log_level = "debug"

[smtp]
listen = ["127.0.0.1:25", "[::1]:25"]
relay_domains = ["example.org"]
trusted_networks = ["10.0.0.0/8", "192.0.2.7"]
xclient_hosts = ["127.0.0.1"]
xforward_hosts = ["::1"]
max_message_size = "64KiB"
max_recipients = 10
max_connections = 20
max_connections_per_ip = 5
bare_lf = "normalize"
resolve_client_names = false
dns_timeout = "2s"
verify_recipients = true
verify_cache_ttl = "2h"
verify_negative_ttl = "1m"
verify_timeout = "5s"
verify_on_error = "accept"
[smtp.tls]
cert_file = "cert.pem"
key_file = "key.pem"
[smtp.auth]
users_file = "users"

[queue]
dir = "/spool"
retry = ["30s", "1d"]
max_age = "2d12h"
log_max_message = 0
segment_size = "1MiB"

[downstream]
address = "lmtp://127.0.0.1:24"
tls = "none"
xclient = false
xforward = false

[[milters]]
name = "opendkim"
address = "inet:8891@127.0.0.1"
default_action = "accept"
connect_timeout = "1s"
command_timeout = "2s"
eom_timeout = "3s"
max_idle_conns = 8
idle_timeout = "1m"

[[milters]]
address = "unix:/run/spamass.sock"

[milter_server]
listen = "unix:/run/sluice.sock"
max_connections = 7
read_timeout = "1m"
write_timeout = "2s"
shutdown_timeout = "0"
failure_action = "accept"
progress_interval = "3s"
max_packet = "1MiB"

[filters.headers]
add = ["X-A: 1", "X-Empty:"]
remove = ["X-Spam-Flag"]

[filters.access]
[[filters.access.rules]]
client = "192.0.2.0/24"
action = "reject"
reply = "550 5.7.1 Access denied"
[[filters.access.rules]]
sender = ".example.com"
action = "quarantine"
reason = "suspicious"
[[filters.access.rules]]
recipient = "/^postmaster@/"
action = "accept"
[[filters.access.rules]]
helo = "[192.0.2.1]"
action = "tempfail"
reply = "421 4.7.0 slow down\n421 4.7.0 come back later"

[metrics]
listen = "127.0.0.1:9425"
`

func TestLoadFile(t *testing.T) {
	clearEnv(t)
	path := writeConfig(t, fullConfig)
	got, err := Load(LoadOptions{File: path})
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		File:     path,
		Hostname: "mx.example.org",
		DataDir:  "/srv/sluice",
		LogLevel: slog.LevelDebug,
		SMTP: SMTP{
			Listen:              []string{"127.0.0.1:25", "[::1]:25"},
			RelayDomains:        []string{"example.org"},
			TrustedNetworks:     prefixes("10.0.0.0/8", "192.0.2.7/32"),
			XClientHosts:        prefixes("127.0.0.1/32"),
			XForwardHosts:       prefixes("::1/128"),
			MaxMessageSize:      64 << 10,
			MaxRecipients:       10,
			MaxConnections:      20,
			MaxConnectionsPerIP: 5,
			BareLF:              "normalize",
			TLS:                 SMTPTLS{CertFile: "cert.pem", KeyFile: "key.pem"},
			Auth:                SMTPAuth{UsersFile: "users"},
			CommandTimeout:      5 * time.Minute,
			DataTimeout:         5 * time.Minute,
			ConnectionTimeout:   time.Hour,
			ShutdownTimeout:     30 * time.Second,
			DNSTimeout:          2 * time.Second,
			ProxyNetworks:       []netip.Prefix{},
			VerifyRecipients:    true,
			VerifyCacheTTL:      2 * time.Hour,
			VerifyNegativeTTL:   time.Minute,
			VerifyTimeout:       5 * time.Second,
			VerifyOnError:       "accept",
		},
		Queue: Queue{Dir: "/spool", Retry: []time.Duration{30 * time.Second, 24 * time.Hour}, MaxAge: 60 * time.Hour, SegmentSize: 1 << 20},
		Downstream: Downstream{
			Address: "lmtp://127.0.0.1:24",
			Target:  Target{Kind: "lmtp", Addr: "127.0.0.1:24"},
			TLS:     "none",
		},
		Milters: []Milter{
			{
				Name:          "opendkim",
				Address:       Socket{Spec: "inet:8891@127.0.0.1", Network: "tcp", Address: "127.0.0.1:8891"},
				DefaultAction: "accept", ConnectTimeout: time.Second, CommandTimeout: 2 * time.Second, EOMTimeout: 3 * time.Second,
				MaxIdleConns: 8, IdleTimeout: time.Minute,
			},
			{
				Name:          "unix:/run/spamass.sock",
				Address:       Socket{Spec: "unix:/run/spamass.sock", Network: "unix", Address: "/run/spamass.sock"},
				DefaultAction: "tempfail", ConnectTimeout: 5 * time.Second, CommandTimeout: 30 * time.Second, EOMTimeout: 5 * time.Minute,
				MaxIdleConns: 0, IdleTimeout: 30 * time.Second,
			},
		},
		MilterServer: MilterServer{
			Listen:         Socket{Spec: "unix:/run/sluice.sock", Network: "unix", Address: "/run/sluice.sock"},
			MaxConnections: 7, ReadTimeout: time.Minute, WriteTimeout: 2 * time.Second, ShutdownTimeout: 0,
			FailureAction: "accept", ProgressInterval: 3 * time.Second, MaxPacket: 1 << 20,
		},
		Filters: Filters{
			Headers: &HeadersFilter{
				Add:    []HeaderField{{Name: "X-A", Value: "1"}, {Name: "X-Empty", Value: ""}},
				Remove: []string{"X-Spam-Flag"},
			},
			Access: &AccessFilter{Rules: []AccessRule{
				{Client: "192.0.2.0/24", Action: "reject", Reply: "550 5.7.1 Access denied"},
				{Sender: ".example.com", Action: "quarantine", Reason: "suspicious"},
				{Recipient: "/^postmaster@/", Action: "accept"},
				{HELO: "[192.0.2.1]", Action: "tempfail", Reply: "421 4.7.0 slow down\n421 4.7.0 come back later"},
			}},
		},
		Metrics: Metrics{Listen: "127.0.0.1:9425"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Load() =\n%+v\nwant\n%+v", got, want)
	}
	if k, p := got.Filters.Access.Rules[1].Match(); k != "sender" || p != ".example.com" {
		t.Errorf("Match() = %q, %q", k, p)
	}
}

func TestLoadFilterPresence(t *testing.T) {
	clearEnv(t)
	tests := []struct {
		name        string
		body        string
		wantHeaders *HeadersFilter
		wantAccess  *AccessFilter
	}{
		{name: "no table: defaults", body: `hostname = "a.example"`,
			wantHeaders: &HeadersFilter{Add: []HeaderField{{Name: "X-Filtered-By", Value: "sluice"}}}},
		{name: "empty [filters]: all off", body: "[filters]\n"},
		{name: "access only", body: "[filters.access]\n", wantAccess: &AccessFilter{}},
		{name: "empty headers table", body: "[filters.headers]\n", wantHeaders: &HeadersFilter{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load(LoadOptions{File: writeConfig(t, tt.body)})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(cfg.Filters.Headers, tt.wantHeaders) || !reflect.DeepEqual(cfg.Filters.Access, tt.wantAccess) {
				t.Errorf("Filters = %+v / %+v, want %+v / %+v", cfg.Filters.Headers, cfg.Filters.Access, tt.wantHeaders, tt.wantAccess)
			}
		})
	}
}

func TestLoadFileErrors(t *testing.T) {
	clearEnv(t)
	if _, err := Load(LoadOptions{File: filepath.Join(t.TempDir(), "missing.toml")}); !os.IsNotExist(err) {
		t.Errorf("missing file: err = %v, want not-exist", err)
	}
	path := writeConfig(t, "hostname = \"a\"\n[smtp]\nlisten = [\n")
	_, err := Load(LoadOptions{File: path})
	if want := path + ":3:10: array is incomplete"; err == nil || err.Error() != want {
		t.Errorf("syntax error: err = %v, want %q", err, want)
	}
	path = writeConfig(t, "hostname = \"a\"\nhostname = \"b\"\n")
	_, err = Load(LoadOptions{File: path})
	if want := path + ": key hostname is already defined"; err == nil || err.Error() != want {
		t.Errorf("duplicate key: err = %v, want %q", err, want)
	}
}

func TestExampleConfigs(t *testing.T) {
	clearEnv(t)
	// The contract's example block in DESIGN.md, which the README repeats.
	body := `
hostname = "localhost"
data_dir = "./var"
[smtp]
listen = ["127.0.0.1:2525"]
relay_domains = []
trusted_networks = ["127.0.0.0/8", "::1/128"]
xclient_hosts = []
xforward_hosts = []
max_message_size = "50MiB"
max_recipients = 1000
max_connections = 1000
max_connections_per_ip = 50
bare_lf = "reject"
[smtp.tls]
cert_file = ""
key_file = ""
[smtp.auth]
users_file = ""
[queue]
dir = ""
retry = ["1m", "5m", "15m", "1h", "4h"]
max_age = "5d"
log_max_message = "128KiB"
segment_size = "64MiB"
[downstream]
address = "maildir:./var/mail"
tls = "opportunistic"
xclient = true
xforward = true
[milter_server]
listen = "inet:8890@127.0.0.1"
[filters.headers]
add = ["X-Filtered-By: sluice"]
[metrics]
listen = ""
`
	path := writeConfig(t, body)
	got, err := Load(LoadOptions{File: path})
	if err != nil {
		t.Fatal(err)
	}
	want := defaultConfig()
	want.File = path
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Load(contract example) =\n%+v\nwant the defaults\n%+v", got, want)
	}
}

func FuzzLoad(f *testing.F) {
	f.Add([]byte(fullConfig))
	f.Add([]byte("[smtp]\nmax_recipients = -1\n[[milters]]\naddress = 3\n"))
	f.Add([]byte("milters = [1, {a = 2}]\nfilters = {access = {rules = 5}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		l := &loader{opts: LoadOptions{File: "fuzz.toml"}, raw: map[string]any{}}
		if l.parse(data) != nil {
			return
		}
		cfg, err := l.load()
		if (cfg == nil) == (err == nil) {
			t.Fatalf("load() = %v, %v: want exactly one", cfg, err)
		}
	})
}

// wantLoadErrors loads a file holding body and checks that Load fails
// with exactly want, one error per line, "F: " standing for the file.
func wantLoadErrors(t *testing.T, body string, want []string) {
	t.Helper()
	path := writeConfig(t, body)
	_, err := Load(LoadOptions{File: path})
	w := strings.ReplaceAll(strings.Join(want, "\n"), "F: ", path+": ")
	if err == nil || err.Error() != w {
		t.Errorf("Load() error =\n%v\nwant\n%s", err, w)
	}
}

// mustLoad loads a file holding body, failing the test on error.
func mustLoad(t *testing.T, body string) *Config {
	t.Helper()
	cfg, err := Load(LoadOptions{File: writeConfig(t, body)})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
