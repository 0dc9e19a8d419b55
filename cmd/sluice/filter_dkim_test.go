package main

import (
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
)

// TestDKIMErrors: the filter's refusals name the file and the key.
func TestDKIMErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "none.pem")
	cfg := loadText(t, `[filters.dkim]
authserv_id = "a b"
sign_headers = ["To"]
[[filters.dkim.keys]]
domain = "example.com"
selector = "s"
key_file = "`+missing+`"
`)
	_, err := buildFilters(cfg, slog.Default())
	if err == nil {
		t.Fatal("no error")
	}
	want := []string{
		cfg.File + `: filters.dkim.authserv_id: "a b": want a host name`,
		cfg.File + `: filters.dkim.sign_headers: must hold From (RFC 6376 §5.4)`,
		cfg.File + `: filters.dkim.keys[0].key_file: stat ` + missing + `: no such file or directory`,
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(want) {
		t.Fatalf("error:\n%v", err)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d %q, want prefix %q", i, lines[i], w)
		}
	}
}
