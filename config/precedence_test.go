package config

import (
	"reflect"
	"testing"

	"github.com/spf13/pflag"
)

// testFlags defines flags the way cmd/sluice does and parses args.
func testFlags(t *testing.T, args ...string) (*pflag.FlagSet, map[string]string) {
	t.Helper()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	fs.String("listen", "", "")
	fs.StringSlice("smtp-listen", nil, "")
	fs.Int("max-recipients", 0, "")
	fs.String("log-level", "", "")
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return fs, map[string]string{
		"listen":         "milter_server.listen",
		"smtp-listen":    "smtp.listen",
		"max-recipients": "smtp.max_recipients",
		"log-level":      "log_level",
	}
}

func TestLoadPrecedence(t *testing.T) {
	const file = `
[smtp]
listen = ["127.0.0.1:2001"]
max_recipients = 11
[milter_server]
listen = "inet:2002@127.0.0.1"
`
	type want struct {
		listen string
		smtp   []string
		rcpts  int
	}
	tests := []struct {
		name  string
		file  bool
		env   map[string]string
		flags []string
		want  want
	}{
		{name: "defaults", want: want{"inet:8890@127.0.0.1", []string{"127.0.0.1:2525"}, 1000}},
		{name: "file over defaults", file: true, want: want{"inet:2002@127.0.0.1", []string{"127.0.0.1:2001"}, 11}},
		{
			name: "env over file", file: true,
			env:  map[string]string{"SLUICE_MILTER_SERVER_LISTEN": "unix:/e.sock", "SLUICE_SMTP_LISTEN": "127.0.0.1:3001, [::1]:3001", "SLUICE_SMTP_MAX_RECIPIENTS": "12"},
			want: want{"unix:/e.sock", []string{"127.0.0.1:3001", "[::1]:3001"}, 12},
		},
		{
			name: "flag over env", file: true,
			env:   map[string]string{"SLUICE_MILTER_SERVER_LISTEN": "unix:/e.sock", "SLUICE_SMTP_LISTEN": "127.0.0.1:3001", "SLUICE_SMTP_MAX_RECIPIENTS": "12"},
			flags: []string{"--listen", "unix:/f.sock", "--smtp-listen", "127.0.0.1:4001,127.0.0.2:4001", "--max-recipients", "13"},
			want:  want{"unix:/f.sock", []string{"127.0.0.1:4001", "127.0.0.2:4001"}, 13},
		},
		{
			name: "unset flag leaves env", file: true,
			env:   map[string]string{"SLUICE_SMTP_MAX_RECIPIENTS": "12"},
			flags: []string{"--listen", "unix:/f.sock"},
			want:  want{"unix:/f.sock", []string{"127.0.0.1:2001"}, 12},
		},
		{
			name: "env without file", env: map[string]string{"SLUICE_SMTP_MAX_RECIPIENTS": "14"},
			want: want{"inet:8890@127.0.0.1", []string{"127.0.0.1:2525"}, 14},
		},
		{name: "flag without file", flags: []string{"--max-recipients=15"}, want: want{"inet:8890@127.0.0.1", []string{"127.0.0.1:2525"}, 15}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			fs, keys := testFlags(t, tt.flags...)
			opts := LoadOptions{Flags: fs, FlagKeys: keys}
			if tt.file {
				opts.File = writeConfig(t, file)
			}
			cfg, err := Load(opts)
			if err != nil {
				t.Fatal(err)
			}
			got := want{cfg.MilterServer.Listen.Spec, cfg.SMTP.Listen, cfg.SMTP.MaxRecipients}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestLoadSourceNames checks that an error names the layer its value came from.
func TestLoadSourceNames(t *testing.T) {
	tests := []struct {
		name  string
		env   map[string]string
		flags []string
		want  string
	}{
		{
			name: "env int", env: map[string]string{"SLUICE_SMTP_MAX_RECIPIENTS": "lots"},
			want: `$SLUICE_SMTP_MAX_RECIPIENTS: smtp.max_recipients: want an integer, got "lots"`,
		},
		{
			name: "env list item", env: map[string]string{"SLUICE_SMTP_TRUSTED_NETWORKS": "127.0.0.0/8,nowhere"},
			want: `$SLUICE_SMTP_TRUSTED_NETWORKS: smtp.trusted_networks[1]: bad network "nowhere" (want an address or CIDR such as 192.0.2.0/24)`,
		},
		{
			name: "env bool", env: map[string]string{"SLUICE_DOWNSTREAM_XCLIENT": "maybe"},
			want: `$SLUICE_DOWNSTREAM_XCLIENT: downstream.xclient: want true or false, got "maybe"`,
		},
		{
			name: "flag", flags: []string{"--listen", "inet:8890"},
			env:  map[string]string{"SLUICE_LOG_LEVEL": "chatty"},
			want: `$SLUICE_LOG_LEVEL: log_level: unknown log level "chatty" (want debug, info, warn, error)`,
		},
		{
			name: "flag over bad env", flags: []string{"--log-level", "shouty"},
			env:  map[string]string{"SLUICE_LOG_LEVEL": "chatty"},
			want: `flag --log-level: log_level: unknown log level "shouty" (want debug, info, warn, error)`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			fs, keys := testFlags(t, tt.flags...)
			_, err := Load(LoadOptions{Flags: fs, FlagKeys: keys})
			if err == nil || err.Error() != tt.want {
				t.Errorf("Load() error = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestLoadFlagKeys(t *testing.T) {
	clearEnv(t)
	fs, _ := testFlags(t)
	for _, tt := range []struct {
		keys map[string]string
		want string
	}{
		{map[string]string{"listen": "milter.listen"}, `config: flag --listen is bound to unknown key "milter.listen"`},
		{map[string]string{"port": "smtp.listen"}, `config: flag --port is not defined`},
	} {
		_, err := Load(LoadOptions{Flags: fs, FlagKeys: tt.keys})
		if err == nil || err.Error() != tt.want {
			t.Errorf("Load(%v) error = %v, want %q", tt.keys, err, tt.want)
		}
	}
	for _, tt := range []struct {
		keys map[string]string
		want string
	}{
		{map[string]string{"listen": "milter_server.listen"}, `config: FlagKeys without Flags`},
	} {
		_, err := Load(LoadOptions{FlagKeys: tt.keys})
		if err == nil || err.Error() != tt.want {
			t.Errorf("Load(%v) error = %v, want %q", tt.keys, err, tt.want)
		}
	}
}

func TestEnvName(t *testing.T) {
	for key, want := range map[string]string{
		"smtp.listen":          "SLUICE_SMTP_LISTEN",
		"milter_server.listen": "SLUICE_MILTER_SERVER_LISTEN",
		"smtp.tls.cert_file":   "SLUICE_SMTP_TLS_CERT_FILE",
		"hostname":             "SLUICE_HOSTNAME",
	} {
		if got := EnvName(key); got != want {
			t.Errorf("EnvName(%q) = %q, want %q", key, got, want)
		}
	}
}
