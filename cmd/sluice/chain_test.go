package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/filter"
	"github.com/sluice-mta/sluice/milterclient"
	"github.com/sluice-mta/sluice/miltersrv"
)

// TestMilterOptionsReuse: max_idle_conns and idle_timeout reach the
// client's options, with their defaults when the file leaves them out.
func TestMilterOptionsReuse(t *testing.T) {
	cfg := loadText(t, `[[milters]]
name = "a"
address = "inet:8891@127.0.0.1"
max_idle_conns = 16
idle_timeout = "2m"
[[milters]]
name = "b"
address = "unix:/run/b.sock"
`)
	want := []struct {
		max  int
		idle time.Duration
	}{{16, 2 * time.Minute}, {0, milterclient.DefaultIdleTimeout}}
	for i, mc := range cfg.Milters {
		o, err := milterOptions(mc, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		if o.MaxIdleConns != want[i].max || o.IdleTimeout != want[i].idle {
			t.Errorf("milters[%d]: MaxIdleConns %d IdleTimeout %v, want %d %v",
				i, o.MaxIdleConns, o.IdleTimeout, want[i].max, want[i].idle)
		}
	}
}

// TestLogChainReuse: a milter's start-up line names its connection reuse
// only when it is on.
func TestLogChainReuse(t *testing.T) {
	cfg := loadText(t, `[filters]
[[milters]]
name = "a"
address = "unix:/run/a.sock"
max_idle_conns = 4
idle_timeout = "1m"
[[milters]]
name = "b"
address = "unix:/run/b.sock"
`)
	chain, err := buildChain(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer chain.Close()
	var buf strings.Builder
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}))
	logChain(log, cfg, chain)
	want := `level=INFO msg="chain member" position=1 kind=milter name=a address=unix:/run/a.sock default_action=tempfail ` +
		"connect_timeout=5s command_timeout=30s eom_timeout=5m0s max_idle_conns=4 idle_timeout=1m0s\n" +
		`level=INFO msg="chain member" position=2 kind=milter name=b address=unix:/run/b.sock default_action=tempfail ` +
		"connect_timeout=5s command_timeout=30s eom_timeout=5m0s\n"
	if got := buf.String(); got != want {
		t.Errorf("log:\n%s\nwant\n%s", got, want)
	}
}

// countingListener counts the connections it accepted and those closed
// since (by the milter server, after SMFIC_QUIT or the client's close).
type countingListener struct {
	net.Listener
	mu               sync.Mutex
	accepted, closed int
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.accepted++
	l.mu.Unlock()
	return &countedConn{Conn: c, l: l}, nil
}

func (l *countingListener) counts() (accepted, closed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.accepted, l.closed
}

// waitCounts polls, for up to 5s, until the counts are as wanted.
func (l *countingListener) waitCounts(t *testing.T, accepted, closed int) {
	t.Helper()
	var a, c int
	for range 500 {
		if a, c = l.counts(); a == accepted && c == closed {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("milter connections: %d accepted, %d closed; want %d, %d", a, c, accepted, closed)
}

type countedConn struct {
	net.Conn
	l    *countingListener
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		c.l.closed++
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}

// passFilter continues at every stage.
type passFilter struct{}

func (passFilter) Needs() filter.Needs { return filter.Needs{} }
func (passFilter) NewSession(context.Context, filter.Macros) (filter.Session, error) {
	return filter.Base{}, nil
}

// oneMessage runs one SMTP connection with one message through chain.
func oneMessage(t *testing.T, chain *filter.Chain) {
	t.Helper()
	ctx := context.Background()
	s, err := chain.NewSession(ctx, filter.MacroMap{})
	if err != nil {
		t.Fatal(err)
	}
	conn := &envelope.Conn{ClientAddr: netip.MustParseAddrPort("192.0.2.1:4321"), ClientName: "client.example", Family: envelope.FamilyInet}
	steps := []struct {
		name string
		run  func() filter.Verdict
	}{
		{"connect", func() filter.Verdict { return s.Connect(ctx, conn) }},
		{"helo", func() filter.Verdict { return s.Helo(ctx, "client.example") }},
		{"mail", func() filter.Verdict { return s.Mail(ctx, envelope.Address{Addr: "a@example.org"}) }},
		{"rcpt", func() filter.Verdict { return s.Rcpt(ctx, envelope.Address{Addr: "b@example.net"}) }},
		{"data", func() filter.Verdict { return s.Data(ctx) }},
		{"header", func() filter.Verdict { return s.Header(ctx, "Subject", "hi") }},
		{"eoh", func() filter.Verdict { return s.EndOfHeaders(ctx) }},
		{"body", func() filter.Verdict { return s.Body(ctx, []byte("hello\r\n")) }},
		{"eom", func() filter.Verdict { return s.EndOfMessage(ctx, filter.NewModifier(filter.AllEdits, nil)) }},
	}
	for _, st := range steps {
		if v := st.run(); v != filter.Continue {
			t.Fatalf("%s: %v", st.name, v)
		}
	}
	s.Close(ctx)
}

// TestBuildChainMilterReuse: with max_idle_conns the milter connection
// outlives the SMTP connection and serves the next one; the chain's Close
// closes it. Without it, each SMTP connection has its own.
func TestBuildChainMilterReuse(t *testing.T) {
	tests := []struct {
		name         string
		keys         string
		afterTwo     [2]int // accepted, closed after two SMTP connections
		afterClosing [2]int // after chain.Close
	}{
		{"reuse", "max_idle_conns = 1\nidle_timeout = \"1m\"\n", [2]int{1, 0}, [2]int{1, 1}},
		{"default", "", [2]int{2, 2}, [2]int{2, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inner, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			l := &countingListener{Listener: inner}
			srv := miltersrv.New(passFilter{}, miltersrv.Options{Logger: slog.New(slog.DiscardHandler)})
			go srv.Serve(l)
			t.Cleanup(func() { srv.Shutdown(context.Background()) })

			port := inner.Addr().(*net.TCPAddr).Port
			cfg := loadText(t, fmt.Sprintf("[filters]\n[[milters]]\nname = \"pass\"\naddress = \"inet:%d@127.0.0.1\"\n%s", port, tt.keys))
			chain, err := buildChain(cfg, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := any(chain).(io.Closer); !ok {
				t.Fatal("the chain is not an io.Closer: nothing would close its milters' idle connections")
			}
			oneMessage(t, chain)
			oneMessage(t, chain)
			l.waitCounts(t, tt.afterTwo[0], tt.afterTwo[1])
			if err := chain.Close(); err != nil {
				t.Fatal(err)
			}
			l.waitCounts(t, tt.afterClosing[0], tt.afterClosing[1])
		})
	}
}
