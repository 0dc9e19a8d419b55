package queue

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/envelope"
)

// openTest opens a queue in a fresh directory with quiet defaults; the
// queue is closed when the test ends.
func openTest(t testing.TB, opts Options) *Queue {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	q, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

// testRecord is a record from a@example.org to the given recipients.
func testRecord(rcpts ...string) Record {
	var addrs []envelope.Address
	for _, r := range rcpts {
		addrs = append(addrs, envelope.Address{Addr: r})
	}
	return Record{
		From:  envelope.Address{Addr: "a@example.org", Params: []envelope.Param{{Key: "BODY", Value: "8BITMIME"}}},
		Rcpts: Recipients(addrs),
		Client: envelope.Conn{ClientName: "client.example.net", ClientAddr: netip.MustParseAddrPort("192.0.2.7:41000"),
			Family: envelope.FamilyInet, HELO: "client.example.net", Proto: "ESMTP"},
	}
}

const testHeader = "From: a@example.org\r\nTo: b@example.org\r\nSubject: test\r\n\r\n"

// put stores a message with testHeader and body.
func put(t testing.TB, q *Queue, rec Record, body string) string {
	t.Helper()
	id, err := q.Put(context.Background(), rec, []byte(testHeader), strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// content reads message id as delivered.
func readContent(t testing.TB, q *Queue, id string) string {
	t.Helper()
	rc, err := q.Message(id)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// dirNames lists a directory, failing the test on error.
func dirNames(t testing.TB, dir string) []string {
	t.Helper()
	names, err := readDirNames(dir)
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// logBuffer is a concurrency-safe log destination.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// waitFor polls cond every 5ms for up to 10s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func fileExists(name string) bool {
	_, err := os.Stat(name)
	return err == nil
}
