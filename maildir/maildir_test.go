package maildir

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/envelope"
)

const content = "From: a@example.org\r\nSubject: test\r\n\r\nline one\r\n.dot line\r\nbare\rCR kept\r\n"

func delivery(from string, to []string, body string) *envelope.Delivery {
	d := &envelope.Delivery{
		QueueID: "Q1",
		From:    envelope.Address{Addr: from},
		Size:    int64(len(body)),
		Open: func(context.Context) (io.ReadCloser, error) {
			return io.NopCloser(strings.NewReader(body)), nil
		},
	}
	for _, r := range to {
		d.To = append(d.To, envelope.Address{Addr: r})
	}
	return d
}

// files returns the names in dir/sub, sorted.
func files(t *testing.T, dir, sub string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(dir, sub))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDeliver(t *testing.T) {
	lf := strings.ReplaceAll(content, "\r\n", "\n")
	tests := []struct {
		name  string
		opts  Options
		from  string
		want  []string // file contents, in recipient order
		files int
	}{
		{"one copy, LF", Options{}, "a@example.org", []string{"Return-Path: <a@example.org>\n" + lf}, 1},
		{"one copy, CRLF kept", Options{KeepCRLF: true}, "a@example.org", []string{"Return-Path: <a@example.org>\r\n" + content}, 1},
		{"null sender", Options{}, "", []string{"Return-Path: <>\n" + lf}, 1},
		{"header injection defused", Options{}, "a@x\r\nX-Evil: 1", []string{"Return-Path: <a@x??X-Evil: 1>\n" + lf}, 1},
		{"per recipient", Options{PerRecipient: true}, "a@example.org", []string{
			"Return-Path: <a@example.org>\nDelivered-To: b@example.net\n" + lf,
			"Return-Path: <a@example.org>\nDelivered-To: c@example.net\n" + lf}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "mail")
			tt.opts.Hostname = "mx.test"
			m, err := New(dir, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			res := m.Deliver(context.Background(), delivery(tt.from, []string{"b@example.net", "c@example.net"}, content))
			if got := files(t, dir, "new"); len(got) != tt.files {
				t.Fatalf("new holds %v, want %d files", got, tt.files)
			}
			for i, r := range res {
				path := strings.TrimPrefix(r.Text, "delivered to maildir as ")
				if r.Status != envelope.Delivered || r.Enhanced != "2.0.0" || r.Code != 0 || r.Remote != "" || r.Handoff != envelope.HandoffFinal || filepath.Dir(path) != filepath.Join(dir, "new") {
					t.Fatalf("result %+v", r)
				}
				if got := read(t, path); got != tt.want[min(i, len(tt.want)-1)] {
					t.Errorf("recipient %d: file holds %q, want %q", i, got, tt.want[i])
				}
			}
			if !tt.opts.PerRecipient && res[0].Text != res[1].Text {
				t.Errorf("one copy, yet two paths: %q, %q", res[0].Text, res[1].Text)
			}
			if tmp := files(t, dir, "tmp"); len(tmp) != 0 {
				t.Errorf("tmp holds %v", tmp)
			}
		})
	}
}

func TestUniqueNames(t *testing.T) {
	dir := t.TempDir()
	at := time.Unix(1700000000, 0)
	m, err := New(dir, Options{Hostname: "host/with:colon", Now: func() time.Time { return at }})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				if r := m.Deliver(context.Background(), delivery("a@x", []string{"b@y"}, content)); r[0].Status != envelope.Delivered {
					t.Errorf("%+v", r[0])
				}
			}
		}()
	}
	wg.Wait()
	names := files(t, dir, "new")
	re := regexp.MustCompile(`^1700000000\.\d+_\d+\.host\\057with\\072colon$`)
	if len(names) != 50 {
		t.Fatalf("%d files, want 50", len(names))
	}
	for _, n := range names {
		if !re.MatchString(n) {
			t.Errorf("name %q does not match %s", n, re)
		}
	}
}

// TestNameTaken: a name already in tmp or new is skipped, not overwritten.
func TestNameTaken(t *testing.T) {
	dir := t.TempDir()
	at := time.Unix(1700000000, 0)
	m, err := New(dir, Options{Hostname: "h", Now: func() time.Time { return at }})
	if err != nil {
		t.Fatal(err)
	}
	pid := itoa(os.Getpid())
	for _, f := range []string{"tmp/1700000000." + pid + "_1.h", "new/1700000000." + pid + "_2.h"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("old"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	r := m.Deliver(context.Background(), delivery("a@x", []string{"b@y"}, content))[0]
	if r.Status != envelope.Delivered || filepath.Base(r.Text) != "1700000000."+pid+"_3.h" {
		t.Fatalf("result %+v", r)
	}
	if got := read(t, filepath.Join(dir, "new/1700000000."+pid+"_2.h")); got != "old" {
		t.Errorf("an existing message was overwritten: %q", got)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// failingReader returns some content, then an error.
type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n == 0 {
		return 0, errors.New("disk on fire")
	}
	k := min(len(p), f.n)
	copy(p, bytes.Repeat([]byte("x"), k))
	f.n -= k
	return k, nil
}

func TestDeliverErrors(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name  string
		ctx   context.Context
		edit  func(t *testing.T, dir string, d *envelope.Delivery)
		text  string
		inNew int
	}{
		{"content cannot be opened", context.Background(), func(_ *testing.T, _ string, d *envelope.Delivery) {
			d.Open = func(context.Context) (io.ReadCloser, error) { return nil, errors.New("gone") }
		}, "cannot read queued message: gone", 0},
		{"content read fails", context.Background(), func(_ *testing.T, _ string, d *envelope.Delivery) {
			d.Open = func(context.Context) (io.ReadCloser, error) { return io.NopCloser(&failingReader{n: 100000}), nil }
		}, "disk on fire", 0},
		{"new is not a directory", context.Background(), func(t *testing.T, dir string, _ *envelope.Delivery) {
			if err := os.Remove(filepath.Join(dir, "new")); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "new"), nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}, "new", -1},
		{"context canceled", canceled, func(*testing.T, string, *envelope.Delivery) {}, "context canceled", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			m, err := New(dir, Options{Hostname: "h"})
			if err != nil {
				t.Fatal(err)
			}
			d := delivery("a@x", []string{"b@y", "c@y"}, content)
			tt.edit(t, dir, d)
			for _, r := range m.Deliver(tt.ctx, d) {
				if r.Status != envelope.Deferred || r.Enhanced != "4.3.0" || !strings.Contains(r.Text, tt.text) || !strings.HasPrefix(r.Text, "maildir "+dir+": ") {
					t.Errorf("result %+v, want deferred 4.3.0 containing %q", r, tt.text)
				}
			}
			if tmp := files(t, dir, "tmp"); len(tmp) != 0 {
				t.Errorf("tmp holds %v", tmp)
			}
			if tt.inNew >= 0 {
				if n := files(t, dir, "new"); len(n) != tt.inNew {
					t.Errorf("new holds %v", n)
				}
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	if _, err := New("", Options{}); err == nil {
		t.Error("New(\"\") succeeded")
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(file, Options{}); err == nil || !strings.HasPrefix(err.Error(), "maildir: ") {
		t.Errorf("New over a file: %v", err)
	}
}

func TestLFWriter(t *testing.T) {
	tests := []struct{ in, want string }{
		{"a\r\nb\r\n", "a\nb\n"},
		{"a\rb", "a\rb"},
		{"a\r\r\n", "a\r\n"},
		{"end\r", "end\r"},
		{"\r\n\r\n", "\n\n"},
	}
	for _, tt := range tests {
		for _, chunk := range []int{1, 2, 100} {
			var out bytes.Buffer
			w := &lfWriter{w: &out}
			for p := []byte(tt.in); len(p) > 0; {
				k := min(chunk, len(p))
				if _, err := w.Write(p[:k]); err != nil {
					t.Fatal(err)
				}
				p = p[k:]
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if out.String() != tt.want {
				t.Errorf("lfWriter(%q) in chunks of %d = %q, want %q", tt.in, chunk, out.String(), tt.want)
			}
		}
	}
}
