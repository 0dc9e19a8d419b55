package smtpd

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/textproto"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// testClock is the fixed time of every test message.
var testClock = func() time.Time { return time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC) }

// testSpool writes drafts to files in a directory and records what is
// committed. IDs are Q1, Q2... in creation order.
type testSpool struct {
	dir string
	mu  sync.Mutex
	n   int
	msg []committed
	// Failures to inject.
	createErr, writeErr, commitErr error
	aborted                        []string
}

type committed struct {
	Message
	Body []byte
}

// content is the message as it would be delivered: header then body.
func (c committed) content() string { return string(c.Header) + string(c.Body) }

type testDraft struct {
	sp   *testSpool
	id   string
	f    *os.File
	done bool
}

func newTestSpool(t *testing.T) *testSpool { return &testSpool{dir: t.TempDir()} }

func (sp *testSpool) Create(ctx context.Context) (Draft, error) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.createErr != nil {
		return nil, sp.createErr
	}
	sp.n++
	id := fmt.Sprintf("Q%d", sp.n)
	f, err := os.Create(filepath.Join(sp.dir, id))
	if err != nil {
		return nil, err
	}
	return &testDraft{sp: sp, id: id, f: f}, nil
}

func (d *testDraft) ID() string { return d.id }

func (d *testDraft) Write(p []byte) (int, error) {
	d.sp.mu.Lock()
	err := d.sp.writeErr
	d.sp.mu.Unlock()
	if err != nil {
		return 0, err
	}
	return d.f.Write(p)
}

func (d *testDraft) Commit(ctx context.Context, m *Message) error {
	d.sp.mu.Lock()
	defer d.sp.mu.Unlock()
	if d.done {
		return errors.New("draft already done")
	}
	d.done = true
	d.f.Close()
	if d.sp.commitErr != nil {
		os.Remove(d.f.Name())
		return d.sp.commitErr
	}
	body, err := os.ReadFile(d.f.Name())
	if err != nil {
		return err
	}
	d.sp.msg = append(d.sp.msg, committed{Message: *m, Body: body})
	return nil
}

func (d *testDraft) Abort() error {
	d.sp.mu.Lock()
	defer d.sp.mu.Unlock()
	if !d.done {
		d.done = true
		d.f.Close()
		os.Remove(d.f.Name())
		d.sp.aborted = append(d.sp.aborted, d.id)
	}
	return nil
}

// messages returns what was committed so far.
func (sp *testSpool) messages() []committed {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return append([]committed(nil), sp.msg...)
}

func (sp *testSpool) setErrs(create, write, commit error) {
	sp.mu.Lock()
	sp.createErr, sp.writeErr, sp.commitErr = create, write, commit
	sp.mu.Unlock()
}

// leftovers lists draft files neither committed nor aborted.
func (sp *testSpool) leftovers(t *testing.T) []string {
	t.Helper()
	sp.mu.Lock()
	defer sp.mu.Unlock()
	done := map[string]bool{}
	for _, m := range sp.msg {
		done[m.Envelope.QueueID] = true
	}
	var left []string
	entries, _ := os.ReadDir(sp.dir)
	for _, e := range entries {
		if !done[e.Name()] {
			left = append(left, e.Name())
		}
	}
	return left
}

// testServer is a running server on loopback.
type testServer struct {
	*Server
	addr  string
	spool *testSpool
	logs  *syncBuffer
}

// baseOptions are the options of most tests: mx.test, trusted
// 127.0.0.1/32 only, relay domain example.org, a fixed clock.
func baseOptions(sp *testSpool) Options {
	return Options{
		Hostname:        "mx.test",
		Spool:           sp,
		RelayDomains:    []string{"example.org"},
		TrustedNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
		Clock:           testClock,
		Timeouts:        Timeouts{Command: 10 * time.Second, Data: 10 * time.Second, Connection: time.Minute},
	}
}

// startServer starts a server with opts (Spool and Logger filled in when
// nil) and stops it when the test ends.
func startServer(t *testing.T, opts Options) *testServer {
	t.Helper()
	sp, _ := opts.Spool.(*testSpool)
	if opts.Spool == nil {
		sp = newTestSpool(t)
		opts.Spool = sp
	}
	logs := &syncBuffer{}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	srv, err := NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v", err)
		}
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	return &testServer{Server: srv, addr: l.Addr().String(), spool: sp, logs: logs}
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.Buffer.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.Buffer.String()
}

// client is a raw SMTP client for exact replies.
type client struct {
	t  *testing.T
	c  net.Conn
	tp *textproto.Reader
}

// dial connects to addr from local ("" for any loopback address) and
// reads the greeting.
func dial(t *testing.T, addr, local string) *client {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if local != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(local)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	t.Cleanup(func() { c.Close() })
	return &client{t: t, c: c, tp: textproto.NewReader(bufio.NewReader(c))}
}

// send writes s as it is.
func (c *client) send(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.c, s); err != nil {
		c.t.Fatalf("send %q: %v", s, err)
	}
}

// enhancedRE finds an enhanced status code after a reply code.
var enhancedRE = regexp.MustCompile(`^([245])\d\d[ -]([245])\.\d{1,3}\.\d{1,3}( |$)`)

// reply reads one reply, its lines joined with "\n". Every line with an
// enhanced code must have it in the reply code's class.
func (c *client) reply() string {
	c.t.Helper()
	var lines []string
	for i := 0; i < 100; i++ {
		l, err := c.tp.ReadLine()
		if err != nil {
			c.t.Fatalf("reading reply after %q: %v", lines, err)
		}
		if m := enhancedRE.FindStringSubmatch(l); m != nil && m[1] != m[2] {
			c.t.Errorf("reply %q: enhanced code class differs from the reply code's", l)
		}
		lines = append(lines, l)
		if len(l) < 4 || l[3] != '-' {
			break
		}
	}
	return strings.Join(lines, "\n")
}

// expect reads a reply and checks it exactly.
func (c *client) expect(want string) {
	c.t.Helper()
	if got := c.reply(); got != want {
		c.t.Fatalf("reply\n got %q\nwant %q", got, want)
	}
}

// do sends a command and checks the reply exactly.
func (c *client) do(cmd, want string) {
	c.t.Helper()
	c.send(cmd + "\r\n")
	if got := c.reply(); got != want {
		c.t.Fatalf("%q: reply\n got %q\nwant %q", cmd, got, want)
	}
}

// closed checks that the server closed the connection.
func (c *client) closed() {
	c.t.Helper()
	if l, err := c.tp.ReadLine(); err == nil {
		c.t.Fatalf("connection still open: read %q", l)
	}
}

// ehlo greets with EHLO and reads the extension list.
func (c *client) ehlo(name string) string {
	c.t.Helper()
	c.send("EHLO " + name + "\r\n")
	r := c.reply()
	if !strings.HasPrefix(r, "250-mx.test\n") && r != "250 mx.test" {
		c.t.Fatalf("EHLO reply %q", r)
	}
	return r
}

// session runs a greeting, EHLO and one message to recipients, checking
// each reply code, and returns the final reply.
func (c *client) sendMessage(from string, to []string, data string) string {
	c.t.Helper()
	c.do("MAIL FROM:<"+from+">", "250 2.1.0 Ok")
	for _, r := range to {
		c.do("RCPT TO:<"+r+">", "250 2.1.5 Ok")
	}
	c.do("DATA", "354 End data with <CR><LF>.<CR><LF>")
	c.send(data)
	return c.reply()
}

// port is the server's port.
func (ts *testServer) port(t *testing.T) string {
	_, p, err := net.SplitHostPort(ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// portOf is the client's local port.
func portOf(t *testing.T, c *client) string {
	_, p, err := net.SplitHostPort(c.c.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// leftoversAfterClose waits, a few seconds at most, for the sessions to
// abort their drafts, and returns the drafts still left.
func leftoversAfterClose(t *testing.T, ts *testServer) []string {
	t.Helper()
	var left []string
	for i := 0; i < 300; i++ {
		if left = ts.spool.leftovers(t); len(left) == 0 {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return left
}
