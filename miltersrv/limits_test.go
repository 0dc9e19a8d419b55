package miltersrv

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/filter"
	"github.com/sluice-mta/sluice/milter"
)

func TestBadPacketsCloseTheConnection(t *testing.T) {
	tests := []struct {
		name string
		raw  []byte
	}{
		{"zero length", []byte{0, 0, 0, 0}},
		{"over the limit", []byte{0, 2, 0, 0, 'B'}},
		{"huge length", []byte{0xff, 0xff, 0xff, 0xff}},
		{"unknown command", []byte{0, 0, 0, 1, 'Z'}},
		{"helo without NUL", []byte{0, 0, 0, 3, 'H', 'a', 'b'}},
		{"truncated", []byte{0, 0, 0, 10, 'H', 'a'}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, addr := serve(t, &recorder{}, Options{})
			m := dialMTA(t, addr)
			m.negotiate(6, allActions, allProtocol)
			if _, err := m.nc.Write(tt.raw); err != nil {
				t.Fatal(err)
			}
			if tt.name == "truncated" {
				m.nc.(*net.TCPConn).CloseWrite()
			}
			m.expectClosed()
			waitFor(t, "connection gone", func() bool { return srv.Connections() == 0 })
			// The server keeps serving.
			m2 := dialMTA(t, addr)
			m2.negotiate(6, allActions, allProtocol)
		})
	}
}

func TestCommandBeforeNegotiationIsRefused(t *testing.T) {
	_, addr := serve(t, &recorder{}, Options{})
	m := dialMTA(t, addr)
	m.send(milter.Helo{Name: "x"})
	m.expectClosed()
}

func TestConnectionLimit(t *testing.T) {
	srv, addr := serve(t, &recorder{}, Options{MaxConnections: 2})
	a, b := dialMTA(t, addr), dialMTA(t, addr)
	a.negotiate(6, allActions, allProtocol)
	b.negotiate(6, allActions, allProtocol)
	c := dialMTA(t, addr)
	c.expectClosed()
	a.send(milter.Quit{})
	a.expectClosed()
	waitFor(t, "a slot", func() bool { return srv.Connections() == 1 })
	d := dialMTA(t, addr)
	d.negotiate(6, allActions, allProtocol)
}

func TestShutdownDrains(t *testing.T) {
	rec := &recorder{}
	srv := New(rec, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	idle, busy := dialMTA(t, l.Addr().String()), dialMTA(t, l.Addr().String())
	idle.negotiate(6, allActions, allProtocol)
	busy.negotiate(6, allActions, allProtocol)
	busy.send(milter.Connect{Hostname: "h", Family: 'U'})
	busy.expect(milter.Continue{})

	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shut <- srv.Shutdown(ctx)
	}()
	idle.expectClosed()
	if err := <-served; !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve = %v", err)
	}
	// The session in progress finishes its message, then is closed.
	busy.send(milter.Mail{Args: []string{"<a@b>"}}, milter.EndOfBody{})
	busy.expect(milter.Continue{}, milter.Continue{})
	busy.send(milter.QuitNewConn{})
	busy.expectClosed()
	if err := <-shut; err != nil {
		t.Errorf("Shutdown = %v", err)
	}
	if _, err := net.DialTimeout("tcp", l.Addr().String(), time.Second); err == nil {
		t.Error("listener still accepts after Shutdown")
	}
}

func TestShutdownTimeoutClosesStragglers(t *testing.T) {
	srv := New(&recorder{}, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	busy := dialMTA(t, l.Addr().String())
	busy.negotiate(6, allActions, allProtocol)
	busy.send(milter.Connect{Hostname: "h", Family: 'U'})
	busy.expect(milter.Continue{})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %v, want deadline exceeded", err)
	}
	busy.expectClosed()
}

func TestUnixSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "milter.sock")
	srv := New(&recorder{}, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	go srv.ListenAndServe("unix:" + path)
	defer srv.Close()
	var nc net.Conn
	waitFor(t, "socket", func() bool {
		var err error
		nc, err = net.Dial("unix", path)
		return err == nil
	})
	defer nc.Close()
	w := milter.NewWriter(nc)
	w.WritePacket(milter.OptNeg{Version: 6, Actions: allActions, Protocol: allProtocol}.Encode())
	w.Flush()
	p, err := milter.NewReader(nc, 0).ReadPacket()
	if err != nil || p.Code != milter.CmdOptNeg || binary.BigEndian.Uint32(p.Data) != 6 {
		t.Fatalf("reply %v, %v", p, err)
	}
}

func TestListenRefusesLiveOrForeignSocketPath(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s")
	l, err := Listen("unix:" + path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Listen("unix:" + path); err == nil {
		t.Error("second Listen on a live socket succeeded")
	}
	l.Close()
	if l2, err := Listen("unix:" + path); err != nil {
		t.Errorf("Listen after close: %v", err)
	} else {
		l2.Close()
	}
	if _, err := Listen("unix:" + dir); err == nil {
		t.Error("Listen on a directory path succeeded")
	}
}

func TestParseAddress(t *testing.T) {
	tests := []struct{ in, network, addr, err string }{
		{"unix:/run/m.sock", "unix", "/run/m.sock", ""},
		{"local:/run/m.sock", "unix", "/run/m.sock", ""},
		{"/run/m.sock", "unix", "/run/m.sock", ""},
		{"inet:8890@127.0.0.1", "tcp4", "127.0.0.1:8890", ""},
		{"inet:8890", "tcp4", ":8890", ""},
		{"inet:127.0.0.1:8890", "tcp4", "127.0.0.1:8890", ""},
		{"inet6:8890@::1", "tcp6", "[::1]:8890", ""},
		{"inet6:8890@[::1]", "tcp6", "[::1]:8890", ""},
		{"inet:@127.0.0.1", "", "", "missing port"},
		{"inet:x@127.0.0.1", "", "", `bad port "x"`},
		{"tcp:1@h", "", "", "unknown socket type"},
		{"unix:", "", "", "empty socket path"},
		{"localhost", "", "", "want unix:/path"},
	}
	for _, tt := range tests {
		n, a, err := ParseAddress(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseAddress(%q) error = %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || n != tt.network || a != tt.addr {
			t.Errorf("ParseAddress(%q) = %q, %q, %v; want %q, %q", tt.in, n, a, err, tt.network, tt.addr)
		}
	}
}

func TestReplaceBodyIsChunked(t *testing.T) {
	body := make([]byte, 150000)
	for i := range body {
		body[i] = 'a' + byte(i%26)
	}
	rec := &recorder{needs: filter.Needs{Edits: filter.EditReplaceBody}, eom: func(_ context.Context, m *filter.Modifier) {
		must(t, m.ReplaceBody(bytesReader(body)))
	}}
	_, addr := serve(t, rec, Options{})
	m := dialMTA(t, addr)
	m.negotiate(6, allActions, allProtocol)
	m.send(milter.EndOfBody{})
	var resps []milter.Response
	for {
		r := m.recv()
		if _, ok := r.(milter.Continue); ok {
			break
		}
		if rb, ok := r.(milter.ReplaceBody); !ok || len(rb.Chunk) > milter.ChunkSize {
			t.Fatalf("reply %T len %d", r, len(rb.Chunk))
		}
		resps = append(resps, r)
	}
	if len(resps) != 3 || string(bodyOf(resps)) != string(body) {
		t.Errorf("got %d chunks, body equal = %v", len(resps), string(bodyOf(resps)) == string(body))
	}
}
