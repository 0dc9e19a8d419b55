package smtpd

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/textproto"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/filter"
	"github.com/sluice-mta/sluice/xclient"
)

// nullSpool throws messages away, so that a benchmark measures the
// session and not the disk.
type nullSpool struct{ n atomic.Int64 }

type nullDraft struct{ id string }

func (sp *nullSpool) Create(context.Context) (Draft, error) {
	return &nullDraft{id: fmt.Sprintf("B%d", sp.n.Add(1))}, nil
}

func (d *nullDraft) ID() string                             { return d.id }
func (d *nullDraft) Write(p []byte) (int, error)            { return len(p), nil }
func (d *nullDraft) Commit(context.Context, *Message) error { return nil }
func (d *nullDraft) Abort() error                           { return nil }

// passFilter is called at every stage, reads no macro and answers
// Continue: what is left of a filter's cost is the engine's.
type passFilter struct{ needs filter.Needs }

type passSession struct{ filter.Base }

func (f passFilter) Needs() filter.Needs { return f.needs }

func (f passFilter) NewSession(context.Context, filter.Macros) (filter.Session, error) {
	return passSession{}, nil
}

// macroBenchCases are the filters of the macro benchmarks: none at all,
// one that takes every macro (Needs.Macros nil), one that lists
// Postfix's defaults, and one that lists none.
func macroBenchCases() []struct {
	name string
	flt  filter.Filter
} {
	return []struct {
		name string
		flt  filter.Filter
	}{
		{"nofilter", nil},
		{"all", passFilter{}},
		{"defaults", passFilter{filter.Needs{Macros: filter.DefaultMacros()}}},
		{"none", passFilter{filter.Needs{Macros: map[filter.Stage][]string{}}}},
	}
}

// benchServer starts a quiet server with flt on loopback.
func benchServer(b *testing.B, flt filter.Filter) string {
	b.Helper()
	opts := baseOptions(nil)
	opts.Spool, opts.Filter = &nullSpool{}, flt
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelError}))
	srv, err := NewServer(opts)
	if err != nil {
		b.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return l.Addr().String()
}

// benchConn is a pipelining client for benchmarks.
type benchConn struct {
	c  net.Conn
	w  *bufio.Writer
	tp *textproto.Reader
}

func dialBench(b *testing.B, addr string) *benchConn {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		b.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Minute))
	bc := &benchConn{c: c, w: bufio.NewWriter(c), tp: textproto.NewReader(bufio.NewReader(c))}
	bc.expect(b, 220)
	bc.cmds(b, []string{"EHLO client.test"}, 250)
	return bc
}

// expect reads one reply and checks its code.
func (bc *benchConn) expect(b *testing.B, code int) {
	if _, _, err := bc.tp.ReadResponse(code); err != nil {
		b.Fatalf("want %d: %v", code, err)
	}
}

// cmds sends the commands in one write and reads a reply with the
// code want to each.
func (bc *benchConn) cmds(b *testing.B, lines []string, want ...int) {
	for _, l := range lines {
		bc.w.WriteString(l + "\r\n")
	}
	if err := bc.w.Flush(); err != nil {
		b.Fatal(err)
	}
	for i := range lines {
		bc.expect(b, want[min(i, len(want)-1)])
	}
}

// message sends one message to three recipients: MAIL, RCPT and DATA
// pipelined, then the content.
func (bc *benchConn) message(b *testing.B) {
	bc.cmds(b, []string{"MAIL FROM:<a@example.net> BODY=8BITMIME", "RCPT TO:<b@example.org>",
		"RCPT TO:<c@example.org>", "RCPT TO:<d@example.org>"}, 250)
	bc.cmds(b, []string{"DATA"}, 354)
	bc.cmds(b, []string{"Subject: bench\r\nFrom: a@example.net\r\n\r\n" + strings.Repeat("body line\r\n", 20) + "."}, 250)
}

// BenchmarkMacrosMessage is the cost of one message on an open
// connection, by what the filter asks of the macros.
func BenchmarkMacrosMessage(b *testing.B) {
	for _, tc := range macroBenchCases() {
		b.Run(tc.name, func(b *testing.B) {
			bc := dialBench(b, benchServer(b, tc.flt))
			defer bc.c.Close()
			b.ReportAllocs()
			b.ResetTimer()
			cpu := processCPU()
			for range b.N {
				bc.message(b)
			}
			reportCPU(b, cpu)
		})
	}
}

// reportCPU reports the process's CPU time per operation since start
// (client and server together).
func reportCPU(b *testing.B, start int64) {
	if end := processCPU(); end > 0 {
		b.ReportMetric(float64(end-start)/float64(b.N), "cpu-ns/op")
	}
}

// BenchmarkMacrosConnection is the cost of a connection that sends one
// message: greeting, EHLO, the message and QUIT.
func BenchmarkMacrosConnection(b *testing.B) {
	for _, tc := range macroBenchCases() {
		b.Run(tc.name, func(b *testing.B) {
			addr := benchServer(b, tc.flt)
			b.ReportAllocs()
			b.ResetTimer()
			cpu := processCPU()
			for range b.N {
				bc := dialBench(b, addr)
				bc.message(b)
				bc.cmds(b, []string{"QUIT"}, 221)
				bc.c.Close()
			}
			reportCPU(b, cpu)
		})
	}
}

// BenchmarkMacrosSetters is the engine's macro work alone: "conn" for
// a connection (setConnMacros), "message" for a message to three
// recipients (MAIL, RCPT and end-of-transaction macros).
func BenchmarkMacrosSetters(b *testing.B) {
	from := envelope.Address{Addr: "a@example.net", Params: []envelope.Param{{Key: "BODY", Value: "8BITMIME"}}}
	for _, tc := range macroBenchCases() {
		b.Run(tc.name+"/conn", func(b *testing.B) {
			s := benchMacroSession(tc.flt)
			b.ReportAllocs()
			for range b.N {
				s.setConnMacros()
			}
		})
		b.Run(tc.name+"/message", func(b *testing.B) {
			s := benchMacroSession(tc.flt)
			s.setConnMacros()
			b.ReportAllocs()
			for range b.N {
				s.setMailMacros("B1", from)
				for _, r := range [...]string{"b@example.org", "c@example.org", "d@example.org"} {
					s.setRcptMacros(r)
				}
				s.clearTxMacros()
			}
		})
	}
}

// benchMacroSession is a session with just what the macro setters read.
func benchMacroSession(flt filter.Filter) *session {
	s := &session{opts: &Options{Hostname: "mx.test", DaemonName: "sluice", Filter: flt}, id: "c1"}
	s.peer = netip.MustParseAddrPort("192.0.2.1:1234")
	s.who = xclient.Identity{Conn: s.socketConn(), Dest: netip.MustParseAddrPort("127.0.0.1:25")}
	s.macros = newMacroSet()
	return s
}
