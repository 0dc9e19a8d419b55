package greylist

import (
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/filter"
)

// rcpt runs connect, MAIL and one RCPT and returns the RCPT verdict.
func rcpt(t *testing.T, f *Filter, client, from, to string) string {
	t.Helper()
	ctx := context.Background()
	s, err := f.NewSession(ctx, filter.NoMacros)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	s.Connect(ctx, &envelope.Conn{ClientAddr: netip.AddrPortFrom(netip.MustParseAddr(client), 25)})
	s.Mail(ctx, envelope.Address{Addr: from})
	return s.Rcpt(ctx, envelope.Address{Addr: to}).String()
}

func TestPersistAcrossRestart(t *testing.T) {
	c := newClock()
	path := filepath.Join(t.TempDir(), "sub", "greylist.db")
	f := newTest(t, Options{StateFile: path}, c)
	if got := rcpt(t, f, "192.0.2.1", "a@example.org", "b@example.com"); got != greyReply {
		t.Fatalf("first attempt: %q", got)
	}
	c.advance(5 * time.Minute)
	if got := rcpt(t, f, "192.0.2.1", "a@example.org", "b@example.com"); got != "continue" {
		t.Fatalf("retry: %q", got)
	}
	if got := rcpt(t, f, "192.0.2.9", "x@example.org", "b@example.com"); got != greyReply {
		t.Fatalf("other triplet: %q", got)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	var sf stateFile
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &sf); err != nil || sf.Version != 1 || len(sf.Triplets) != 2 || len(sf.Clients) != 1 {
		t.Fatalf("state file %s: %v %+v", data, err, sf)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("state file mode %v, want 0600", fi.Mode().Perm())
	}
	if tmps, _ := filepath.Glob(path + ".tmp*"); len(tmps) != 0 {
		t.Errorf("temporary files left: %v", tmps)
	}

	c.advance(5 * time.Minute)
	g := newTest(t, Options{StateFile: path}, c)
	if got := rcpt(t, g, "192.0.2.1", "a@example.org", "b@example.com"); got != "continue" {
		t.Errorf("passed triplet after restart: %q", got)
	}
	// The greylisted one keeps its first attempt: 5 minutes ago.
	if got := rcpt(t, g, "192.0.2.9", "x@example.org", "b@example.com"); got != "continue" {
		t.Errorf("greylisted triplet retried after restart: %q", got)
	}
	if got := rcpt(t, g, "192.0.2.9", "new@example.org", "b@example.com"); got != greyReply {
		t.Errorf("unknown triplet after restart: %q", got)
	}
}

// Two filters on one file (an old and a new chain) converge: each write
// merges the other's.
func TestPersistMerge(t *testing.T) {
	c := newClock()
	path := filepath.Join(t.TempDir(), "greylist.db")
	a := newTest(t, Options{StateFile: path}, c)
	b := newTest(t, Options{StateFile: path}, c)
	rcpt(t, a, "192.0.2.1", "a@example.org", "one@example.com")
	rcpt(t, b, "198.51.100.1", "b@example.org", "two@example.com")
	if err := a.Save(); err != nil {
		t.Fatal(err)
	}
	if err := b.Save(); err != nil {
		t.Fatal(err)
	}
	c.advance(5 * time.Minute)
	if got := rcpt(t, b, "192.0.2.1", "a@example.org", "one@example.com"); got != "continue" {
		t.Errorf("b after merging a's write: %q", got)
	}
	if err := a.Save(); err != nil {
		t.Fatal(err)
	}
	if got := rcpt(t, a, "198.51.100.1", "b@example.org", "two@example.com"); got != "continue" {
		t.Errorf("a after merging b's write: %q", got)
	}
}

func TestPersistPeriodic(t *testing.T) {
	path := filepath.Join(t.TempDir(), "greylist.db")
	f, err := New(Options{StateFile: path, SaveInterval: 10 * time.Millisecond, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rcpt(t, f, "192.0.2.1", "a@example.org", "b@example.com")
	deadline := time.Now().Add(10 * time.Second)
	for {
		data, _ := os.ReadFile(path)
		if strings.Contains(string(data), `"recipient":"b@example.com"`) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the state file was not written within 10s: %q", data)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestPersistBadFileMovedAside(t *testing.T) {
	for name, content := range map[string]string{
		"not json":      "{garbage",
		"wrong version": `{"version":2}`,
		"bad network":   `{"version":1,"triplets":[{"client":"192.0.2.1/24","sender":"","recipient":"b","first":"2025-03-01T12:00:00Z","last":"2025-03-01T12:00:00Z"}]}`,
		"bad count":     `{"version":1,"clients":[{"client":"192.0.2.0/24","count":0,"last":"2025-03-01T12:00:00Z"}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "greylist.db")
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			c := newClock()
			f := newTest(t, Options{StateFile: path}, c)
			if got, _ := os.ReadFile(path + ".bad"); string(got) != content {
				t.Errorf("%s.bad holds %q, want the bad file", path, got)
			}
			if got := rcpt(t, f, "192.0.2.1", "a@example.org", "b@example.com"); got != greyReply {
				t.Errorf("after a bad file: %q", got)
			}
		})
	}
}

func TestPersistUnreadable(t *testing.T) {
	dir := t.TempDir()
	_, err := New(Options{StateFile: dir, Logger: quiet()}) // a directory
	if err == nil || !strings.HasPrefix(err.Error(), "filter/greylist: state_file: ") {
		t.Fatalf("New with a directory as state file: %v", err)
	}
}
