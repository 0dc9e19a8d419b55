package miltersrv

// Shared pieces of the interop tests, which drive the server with two
// third-party Go milter clients (interop_emersion_test.go and
// interop_djmilter_test.go): a filter that records what it sees, a dialer
// that taps the wire, and the message both clients send.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/filter"
	"github.com/sluice-mta/sluice/milter"
)

// clientTimeout bounds every read, write and dial of the clients under test.
const clientTimeout = 5 * time.Second

// probe is the filter of the interop tests: it records each call with the
// facts (and the macros listed in macroNames) it saw, answers from verdicts,
// and runs edit at end of message.
type probe struct {
	needs      filter.Needs
	verdicts   map[filter.Stage]filter.Verdict
	edit       func(context.Context, *filter.Modifier, filter.Macros) []error
	macroNames []string

	mu       sync.Mutex
	calls    []string
	editErrs []error
	opened   int
	closed   int
}

func (p *probe) Needs() filter.Needs { return p.needs }

func (p *probe) NewSession(_ context.Context, m filter.Macros) (filter.Session, error) {
	p.mu.Lock()
	p.opened++
	p.mu.Unlock()
	return &probeSession{p: p, m: m}, nil
}

func (p *probe) Calls() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.calls...)
}

func (p *probe) EditErrors() []error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]error(nil), p.editErrs...)
}

// Sessions returns how many filter sessions were opened and closed.
func (p *probe) Sessions() (opened, closed int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.opened, p.closed
}

type probeSession struct {
	p *probe
	m filter.Macros
}

// note records a call, with the macros visible at that stage.
func (s *probeSession) note(st filter.Stage, call string) filter.Verdict {
	var ms []string
	for _, name := range s.p.macroNames {
		if v, ok := s.m.Macro(name); ok {
			ms = append(ms, name+"="+v)
		}
	}
	if len(s.p.macroNames) > 0 {
		call += " {" + strings.Join(ms, " ") + "}"
	}
	s.p.mu.Lock()
	s.p.calls = append(s.p.calls, call)
	s.p.mu.Unlock()
	return s.p.verdicts[st]
}

func (s *probeSession) Connect(_ context.Context, c *envelope.Conn) filter.Verdict {
	where := c.ClientPath
	if c.ClientAddr.IsValid() {
		where = c.ClientAddr.String()
	}
	return s.note(filter.StageConnect, fmt.Sprintf("connect %s %c %s", c.ClientName, c.Family, where))
}

func (s *probeSession) Helo(_ context.Context, name string) filter.Verdict {
	return s.note(filter.StageHelo, "helo "+name)
}

func (s *probeSession) Mail(_ context.Context, a envelope.Address) filter.Verdict {
	return s.note(filter.StageMail, "mail "+a.Addr+" "+a.ParamString())
}

func (s *probeSession) Rcpt(_ context.Context, a envelope.Address) filter.Verdict {
	return s.note(filter.StageRcpt, "rcpt "+a.Addr+" "+a.ParamString())
}

func (s *probeSession) Data(context.Context) filter.Verdict {
	return s.note(filter.StageData, "data")
}

func (s *probeSession) Header(_ context.Context, name, value string) filter.Verdict {
	return s.note(filter.StageHeader, fmt.Sprintf("header %s %q", name, value))
}

func (s *probeSession) EndOfHeaders(context.Context) filter.Verdict {
	return s.note(filter.StageEndOfHeaders, "eoh")
}

func (s *probeSession) Body(_ context.Context, chunk []byte) filter.Verdict {
	return s.note(filter.StageBody, fmt.Sprintf("body %q", chunk))
}

func (s *probeSession) EndOfMessage(ctx context.Context, m *filter.Modifier) filter.Verdict {
	if s.p.edit != nil {
		if errs := s.p.edit(ctx, m, s.m); len(errs) > 0 {
			s.p.mu.Lock()
			s.p.editErrs = append(s.p.editErrs, errs...)
			s.p.mu.Unlock()
		}
	}
	return s.note(filter.StageEndOfMessage, "eom")
}

func (s *probeSession) Abort(context.Context) {
	s.p.mu.Lock()
	s.p.calls = append(s.p.calls, "abort")
	s.p.mu.Unlock()
}

func (s *probeSession) Unknown(_ context.Context, line string) filter.Verdict {
	return s.note(filter.StageUnknown, "unknown "+line)
}

func (s *probeSession) Close(context.Context) {
	s.p.mu.Lock()
	s.p.calls = append(s.p.calls, "close")
	s.p.closed++
	s.p.mu.Unlock()
}

// waitClosed waits until the probe has closed n sessions.
func (p *probe) waitClosed(t testing.TB, n int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d closed filter sessions", n), func() bool {
		_, closed := p.Sessions()
		return closed >= n
	})
}

// The message both clients send, as Postfix would pass it: header values
// without the space after the colon, folding kept.
const (
	imClientName = "client.test"
	imClientAddr = "192.0.2.7"
	imClientPort = 40000
	imHelo       = "client.test"
	imFrom       = "a@example.com"
	imRcpt1      = "b@example.org"
	imRcpt2      = "c@example.org"
)

var (
	imFromArgs  = []string{"SIZE=100", "BODY=8BITMIME"}
	imRcpt1Args = []string{"NOTIFY=SUCCESS,FAILURE"}
	imRcpt2Args = []string{"ORCPT=rfc822;c@example.org"}
	imHeaders   = [][2]string{
		{"Received", "from a by b;\r\n\tMon, 1 Jan 2024 00:00:00 +0000"},
		{"Subject", "hi"},
		{"Received", "from c by d"},
	}
	imBody = []string{"hello\r\n", "world\r\n"}
)

// imCalls is what the probe records for the message from MAIL on.
var imCalls = []string{
	"mail a@example.com SIZE=100 BODY=8BITMIME",
	"rcpt b@example.org NOTIFY=SUCCESS,FAILURE",
	"rcpt c@example.org ORCPT=rfc822;c@example.org",
	"data",
	`header Received "from a by b;\r\n\tMon, 1 Jan 2024 00:00:00 +0000"`,
	`header Subject "hi"`,
	`header Received "from c by d"`,
	"eoh",
	`body "hello\r\n"`,
	`body "world\r\n"`,
	"eom",
}

// without returns calls minus those starting with any of prefixes.
func without(calls []string, prefixes ...string) []string {
	var out []string
next:
	for _, c := range calls {
		for _, p := range prefixes {
			if strings.HasPrefix(c, p) {
				continue next
			}
		}
		out = append(out, c)
	}
	return out
}

func concat(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// replacementBody returns n bytes of CRLF-terminated lines.
func replacementBody(n int) []byte {
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "line %07d of the new body\r\n", i)
	}
	return []byte(b.String()[:n])
}

// everyEdit makes one edit of each kind; params says whether the
// recipient added with ESMTP parameters is among them.
func everyEdit(body []byte, params bool) func(context.Context, *filter.Modifier, filter.Macros) []error {
	return func(_ context.Context, m *filter.Modifier, _ filter.Macros) []error {
		errs := []error{
			m.AddHeader("X-Added", "yes"),
			m.InsertHeader(0, "X-First", "1"),
			m.ChangeHeader("Subject", 1, "changed\r\n\tand folded"),
			m.DeleteHeader("Received", 2),
			m.AddRecipient(envelope.Address{Addr: "d@example.org"}),
		}
		if params {
			errs = append(errs, m.AddRecipient(envelope.Address{Addr: "e@example.org",
				Params: []envelope.Param{{Key: "NOTIFY", Value: "NEVER"}}}))
		}
		errs = append(errs,
			m.DeleteRecipient(imRcpt1),
			m.ChangeSender(envelope.Address{Addr: "bounce@example.com",
				Params: []envelope.Param{{Key: "RET", Value: "HDRS"}, {Key: "ENVID", Value: "QQ314159"}}}),
			m.ReplaceBody(strings.NewReader(string(body))),
			m.Quarantine("looks odd"),
		)
		return nonNil(errs)
	}
}

// tagQueueID adds an X-Queue-ID header holding macro i.
func tagQueueID(_ context.Context, m *filter.Modifier, macros filter.Macros) []error {
	i, ok := macros.Macro("i")
	if !ok {
		return []error{errors.New("no macro i at end of message")}
	}
	return nonNil([]error{m.AddHeader("X-Queue-ID", i)})
}

func nonNil(errs []error) []error {
	var out []error
	for _, e := range errs {
		if e != nil {
			out = append(out, e)
		}
	}
	return out
}

// A verdict case: what the filter answers at one stage.
type verdictCase struct {
	name    string
	verdict filter.Verdict
}

var verdictCases = []verdictCase{
	{"reject", filter.Reject},
	{"tempfail", filter.TempFail},
	{"discard", filter.Discard},
	{"accept", filter.Accept},
	{"custom5xx", filter.CustomReply(550, "5.7.1", "first line", "second line")},
	{"custom4xx", filter.CustomReply(451, "4.3.2", "busy", "come back", "later")},
}

// serveUnix serves f on a unix socket in a fresh temporary directory.
func serveUnix(t testing.TB, f filter.Filter, opts Options) (*Server, string) {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	path := filepath.Join(t.TempDir(), "m.sock")
	l, err := Listen("unix:" + path)
	if err != nil {
		t.Fatal(err)
	}
	srv := New(f, opts)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return srv, path
}

// tapDialer dials like net.Dialer and records the packets each connection
// carries, so a test can see what a client library put on the wire.
type tapDialer struct {
	mu    sync.Mutex
	conns []*tapConn
}

// Dial implements both libraries' Dialer interfaces.
func (d *tapDialer) Dial(network, addr string) (net.Conn, error) {
	nc, err := net.DialTimeout(network, addr, clientTimeout)
	if err != nil {
		return nil, err
	}
	tc := &tapConn{Conn: nc}
	d.mu.Lock()
	d.conns = append(d.conns, tc)
	d.mu.Unlock()
	return tc, nil
}

// Dials returns how many connections were made.
func (d *tapDialer) Dials() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.conns)
}

// Conn returns the i-th connection made.
func (d *tapDialer) Conn(t testing.TB, i int) *tapConn {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	if i >= len(d.conns) {
		t.Fatalf("only %d connections were dialled, want connection #%d", len(d.conns), i)
	}
	return d.conns[i]
}

type tapConn struct {
	net.Conn
	mu         sync.Mutex
	sent, recv packetLog
}

func (c *tapConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.mu.Lock()
	c.sent.feed(b[:n])
	c.mu.Unlock()
	return n, err
}

func (c *tapConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.mu.Lock()
	c.recv.feed(b[:n])
	c.mu.Unlock()
	return n, err
}

// Sent returns the codes of the commands the client sent, macros ('D')
// left out, as a string: "OCHMRRTLNBEQ".
func (c *tapConn) Sent() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b strings.Builder
	for _, p := range c.sent.pkts {
		if p.Code != milter.CmdMacro {
			b.WriteByte(p.Code)
		}
	}
	return b.String()
}

// Received returns the codes of the server's replies as a string.
func (c *tapConn) Received() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b strings.Builder
	for _, p := range c.recv.pkts {
		b.WriteByte(p.Code)
	}
	return b.String()
}

// Negotiated decodes the server's SMFIC_OPTNEG reply.
func (c *tapConn) Negotiated(t testing.TB) milter.OptNeg {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.recv.pkts) == 0 {
		t.Fatal("the server sent nothing")
	}
	r, err := milter.DecodeResponse(c.recv.pkts[0])
	if err != nil {
		t.Fatalf("decoding the negotiation reply: %v", err)
	}
	o, ok := r.(milter.OptNeg)
	if !ok {
		t.Fatalf("first reply = %#v, want SMFIC_OPTNEG", r)
	}
	return o
}

// packetLog splits a byte stream into milter packets.
type packetLog struct {
	buf  []byte
	pkts []milter.Packet
}

func (l *packetLog) feed(b []byte) {
	l.buf = append(l.buf, b...)
	for len(l.buf) >= 4 {
		n := int(binary.BigEndian.Uint32(l.buf))
		if n < 1 || len(l.buf) < 4+n {
			return
		}
		data := append([]byte(nil), l.buf[5:4+n]...)
		l.pkts = append(l.pkts, milter.Packet{Code: l.buf[4], Data: data})
		l.buf = l.buf[4+n:]
	}
}

func TestPacketLogSplitsStream(t *testing.T) {
	var l packetLog
	stream := []byte("\x00\x00\x00\x01c\x00\x00\x00\x03hab\x00\x00")
	for _, b := range stream { // one byte at a time, as a slow read would
		l.feed([]byte{b})
	}
	if len(l.pkts) != 2 || l.pkts[0].Code != 'c' || l.pkts[1].Code != 'h' || string(l.pkts[1].Data) != "ab" {
		t.Fatalf("packets = %v", l.pkts)
	}
	if string(l.buf) != "\x00\x00" {
		t.Errorf("left over %q, want the partial length", l.buf)
	}
}
