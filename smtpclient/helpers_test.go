package smtpclient

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/envelope"
)

// testTimeout bounds every wait of a test.
const testTimeout = 30 * time.Second

// message returns a delivery of content from from to the recipients.
func message(from string, to []string, content string) *envelope.Delivery {
	d := &envelope.Delivery{
		QueueID: "Q1",
		From:    envelope.Address{Addr: from},
		Arrived: time.Now(),
		Size:    int64(len(content)),
		Open: func(context.Context) (io.ReadCloser, error) {
			return io.NopCloser(strings.NewReader(content)), nil
		},
	}
	for _, r := range to {
		d.To = append(d.To, envelope.Address{Addr: r})
	}
	return d
}

// origClient is the client a test message claims to come from.
func origClient() envelope.Conn {
	return envelope.Conn{
		ClientName: "client.example.net",
		ClientAddr: netip.MustParseAddrPort("192.0.2.77:41000"),
		Family:     envelope.FamilyInet,
		HELO:       "helo.example.net",
		Proto:      "ESMTP",
	}
}

// testContent is a message with the lines a client must get right: dots at
// line starts, a lone dot, an empty line.
const testContent = "From: a@example.org\r\nTo: b@example.net\r\nSubject: test\r\n\r\n" +
	"first line\r\n.\r\n..two dots\r\n.leading dot\r\n\r\nlast line\r\n"

// newClient makes a Client with test defaults (short timeouts, a test
// logger) that is closed when the test ends.
func newClient(t *testing.T, opts Options) *Client {
	t.Helper()
	if opts.HeloName == "" {
		opts.HeloName = "sluice.test"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if opts.Timeouts == (Timeouts{}) {
		opts.Timeouts = Timeouts{Connect: 10 * time.Second, Greeting: 20 * time.Second, Command: 20 * time.Second,
			Mail: 20 * time.Second, Rcpt: 20 * time.Second, DataInit: 20 * time.Second, DataBlock: 20 * time.Second,
			DataFinal: 20 * time.Second}
	}
	c, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// testWriter sends log output to t.Log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// deliver runs one delivery with the test's time limit.
func deliver(t *testing.T, c *Client, m *envelope.Delivery) []envelope.RcptResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	res := c.Deliver(ctx, m)
	if len(res) != len(m.To) {
		t.Fatalf("%d results for %d recipients", len(res), len(m.To))
	}
	for i, r := range res {
		if r.Rcpt != m.To[i].Addr {
			t.Fatalf("result %d is for %q, want %q", i, r.Rcpt, m.To[i].Addr)
		}
	}
	return res
}

// wantResult checks one result's status, code and enhanced code, and that
// its text contains text.
func wantResult(t *testing.T, r envelope.RcptResult, status envelope.Status, code int, enhanced, text string) {
	t.Helper()
	if r.Status != status || r.Code != code || r.Enhanced != enhanced || !strings.Contains(r.Text, text) {
		t.Errorf("result for %s = %s %d %q %q; want %s %d %q containing %q",
			r.Rcpt, r.Status, r.Code, r.Enhanced, r.Text, status, code, enhanced, text)
	}
}

// closedPort returns a loopback address nobody listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
