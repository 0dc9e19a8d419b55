package miltersrv

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/milter"
)

// socketPair returns both ends of a unix socket connection.
func socketPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	dir, err := os.MkdirTemp("", "miltersrv-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	l, err := net.Listen("unix", filepath.Join(dir, "s"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	client, err = net.Dial("unix", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// TestInReader reads packets of every size class through an inReader and
// checks that it holds a pooled buffer only while bytes are waiting.
func TestInReader(t *testing.T) {
	client, server := socketPair(t)
	var pools bufPools
	var in inReader
	if !in.init(server, &pools) {
		t.Skip("no raw reads on this platform")
	}
	r := milter.NewReader(newFrameReader(&in), milter.DefaultMaxPacket)
	packets := []milter.Packet{
		{Code: 'H', Data: []byte("client.test\x00")},
		{Code: 'B', Data: bytes.Repeat([]byte("x"), inChunk-5)},   // fills a chunk exactly with its prefix
		{Code: 'B', Data: bytes.Repeat([]byte("y"), 3*inChunk+7)}, // read straight into the packet buffer
		{Code: 'E'},
	}
	for _, burst := range [][]milter.Packet{packets[:1], packets} {
		var wire bytes.Buffer
		w := milter.NewWriter(&wire)
		for _, p := range burst {
			w.WritePacket(p)
		}
		w.Flush()
		go client.Write(wire.Bytes())
		for i, want := range burst {
			got, err := r.ReadPacket()
			if err != nil {
				t.Fatalf("packet %d: %v", i, err)
			}
			if got.Code != want.Code || !bytes.Equal(got.Data, want.Data) {
				t.Fatalf("packet %d: %c len %d, want %c len %d", i, got.Code, len(got.Data), want.Code, len(want.Data))
			}
		}
		if in.buf != nil || in.buffered() != 0 || r.Buffered() != 0 {
			t.Errorf("after the burst: buffer held %v, %d+%d bytes buffered; want none", in.buf != nil, in.buffered(), r.Buffered())
		}
	}
	server.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := r.ReadPacket(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("idle read past the deadline: %v, want a deadline error", err)
	}
	server.SetReadDeadline(time.Time{})
	client.Close()
	if _, err := r.ReadPacket(); err != io.EOF {
		t.Errorf("read after the peer closed: %v, want io.EOF", err)
	}
	if in.buf != nil {
		t.Errorf("buffer held after EOF")
	}
}

// TestPipeConnection serves a connection that is not a socket (net.Pipe):
// it is read through a plain buffer and works the same.
func TestPipeConnection(t *testing.T) {
	rec := newTagger("pipe")
	srv := New(rec, Options{})
	client, server := net.Pipe()
	l := &oneConnListener{c: server, done: make(chan struct{})}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	m := &mta{t: t, nc: client, r: milter.NewReader(client, 0), w: milter.NewWriter(client)}
	client.SetDeadline(time.Now().Add(10 * time.Second))
	m.negotiate(6, allActions, allProtocol)
	if got := tagOf(t, m); got != "pipe" {
		t.Errorf("X-Which %q, want pipe", got)
	}
	m.send(milter.Quit{})
	m.expectClosed()
	srv.Close()
	if err := <-served; !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve: %v", err)
	}
}

// oneConnListener accepts c once, then blocks until closed.
type oneConnListener struct {
	c    net.Conn
	done chan struct{}
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	if c := l.c; c != nil {
		l.c = nil
		return c, nil
	}
	<-l.done
	return nil, net.ErrClosed
}

func (l *oneConnListener) Close() error {
	select {
	case <-l.done:
	default:
		close(l.done)
	}
	return nil
}

func (l *oneConnListener) Addr() net.Addr { return &net.UnixAddr{Name: "pipe", Net: "unix"} }

// TestMacroArena sets stages in the order Postfix sends them, and again
// with longer values, and checks every look-up: stages carved from one
// arena must not overwrite each other.
func TestMacroArena(t *testing.T) {
	var m macroStore
	set := func(code byte, pairs ...string) {
		m.set(code, []byte(strings.Join(pairs, "\x00")+"\x00"))
	}
	long := strings.Repeat("v", 900)
	set(milter.CmdConnect, "j", "mx.test", "_", "client [192.0.2.7]")
	set(milter.CmdHelo)
	set(milter.CmdMail, "i", "QID1", "{mail_addr}", "a@example.com")
	set(milter.CmdRcpt, "{rcpt_addr}", "b@example.org")
	set(milter.CmdRcpt, "{rcpt_addr}", "second-and-much-longer-recipient@example.org")
	set(milter.CmdData, "{long}", long) // beyond the arena: allocated apart
	set(milter.CmdEndOfHeaders, "{eoh}", "1")
	want := map[string]string{
		"j": "mx.test", "_": "client [192.0.2.7]", "i": "QID1", "{mail_addr}": "a@example.com",
		"{rcpt_addr}": "second-and-much-longer-recipient@example.org", "{long}": long, "{eoh}": "1",
	}
	for name, v := range want {
		if got, ok := m.Macro(name); !ok || got != v {
			t.Errorf("Macro(%q) = %q, %v; want %q", name, got, ok, v)
		}
	}
	set(milter.CmdMail, "i", "QID2-longer-than-before") // clears the transaction
	if _, ok := m.Macro("{rcpt_addr}"); ok {
		t.Errorf("rcpt macros survived a new MAIL")
	}
	if got, _ := m.Macro("i"); got != "QID2-longer-than-before" {
		t.Errorf("i = %q after the second MAIL", got)
	}
	if got, _ := m.Macro("j"); got != "mx.test" {
		t.Errorf("j = %q after the second MAIL, want mx.test", got)
	}
}
