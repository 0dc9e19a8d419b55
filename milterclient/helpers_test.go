package milterclient_test

import (
	"bytes"
	"context"
	"errors"
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

// testTimeout bounds every wait of a test that is not about timeouts.
const testTimeout = 10 * time.Second

// logSink collects log records for assertions.
type logSink struct {
	mu      sync.Mutex
	records []slog.Record
}

func (l *logSink) Enabled(context.Context, slog.Level) bool { return true }
func (l *logSink) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.records = append(l.records, r.Clone())
	l.mu.Unlock()
	return nil
}
func (l *logSink) WithAttrs(as []slog.Attr) slog.Handler { return &attrSink{l, as} }
func (l *logSink) WithGroup(string) slog.Handler         { return l }

type attrSink struct {
	l  *logSink
	as []slog.Attr
}

func (a *attrSink) Enabled(context.Context, slog.Level) bool { return true }
func (a *attrSink) Handle(ctx context.Context, r slog.Record) error {
	r = r.Clone()
	r.AddAttrs(a.as...)
	return a.l.Handle(ctx, r)
}
func (a *attrSink) WithAttrs(as []slog.Attr) slog.Handler {
	return &attrSink{a.l, append(append([]slog.Attr(nil), a.as...), as...)}
}
func (a *attrSink) WithGroup(string) slog.Handler { return a }

// at returns "LEVEL msg key=value..." for records at level or above.
func (l *logSink) at(level slog.Level) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, r := range l.records {
		if r.Level < level {
			continue
		}
		s := r.Level.String() + " " + r.Message
		r.Attrs(func(a slog.Attr) bool {
			s += " " + a.Key + "=" + a.Value.String()
			return true
		})
		out = append(out, s)
	}
	return out
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// serveFilter serves f with miltersrv on a loopback port and returns the
// milter address in Sendmail syntax.
func serveFilter(t testing.TB, f filter.Filter, opts miltersrv.Options) string {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quietLogger()
	}
	srv := miltersrv.New(f, opts)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; !errors.Is(err, miltersrv.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return inetAddr(l)
}

func inetAddr(l net.Listener) string {
	a := l.Addr().(*net.TCPAddr)
	return fmt.Sprintf("inet:%d@%s", a.Port, a.IP)
}

// newClient returns a client with test-friendly timeouts.
func newClient(t testing.TB, opts milterclient.Options) *milterclient.Milter {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quietLogger()
	}
	if opts.CommandTimeout == 0 {
		opts.CommandTimeout = testTimeout
	}
	if opts.ConnectTimeout == 0 {
		opts.ConnectTimeout = testTimeout
	}
	if opts.EOMTimeout == 0 {
		opts.EOMTimeout = testTimeout
	}
	if opts.TempDir == "" {
		opts.TempDir = t.TempDir()
	}
	m, err := milterclient.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// message is what an engine drives through a session.
type message struct {
	conn    *envelope.Conn
	helo    string
	unknown string // an unknown command after HELO, when set
	from    envelope.Address
	rcpts   []envelope.Address
	headers [][2]string // name, value as received (with the leading space)
	body    []byte
	chunk   int // body chunk size the engine uses; default 4096
}

func sampleConn() *envelope.Conn {
	return &envelope.Conn{
		ClientName: "client.test",
		ClientAddr: netip.MustParseAddrPort("192.0.2.7:40000"),
		Family:     envelope.FamilyInet,
	}
}

func sampleMessage() message {
	return message{
		conn: sampleConn(),
		helo: "client.test",
		from: envelope.Address{Addr: "a@example.com", Params: []envelope.Param{{Key: "SIZE", Value: "100"}, {Key: "BODY", Value: "8BITMIME"}}},
		rcpts: []envelope.Address{
			{Addr: "b@example.org", Params: []envelope.Param{{Key: "NOTIFY", Value: "SUCCESS,FAILURE"}}},
		},
		headers: [][2]string{{"From", " a@example.com"}, {"Subject", " hi"}},
		body:    []byte("hello\r\n"),
	}
}

// outcome is what a driven message came to.
type outcome struct {
	stage   filter.Stage // where a terminal verdict stopped it, or StageEndOfMessage
	verdict filter.Verdict
	edits   []filter.Edit
	body    []byte // the replaced body, read after EndOfMessage
}

// engine plays the SMTP side: it sets macros as stages go and stops at a
// terminal verdict. macros is the session's filter.Macros.
type engine struct {
	t      testing.TB
	macros filter.MacroMap
	sess   filter.Session
	ctx    context.Context
	qid    int
}

func newEngine(t testing.TB, f filter.Filter) *engine {
	t.Helper()
	e := &engine{t: t, macros: filter.MacroMap{}, ctx: context.Background()}
	e.macros.Set("j", "mx.test")
	e.macros.Set("{daemon_name}", "sluice")
	e.macros.Set("_", "client.test [192.0.2.7]")
	e.macros.Set("v", "sluice 1")
	e.macros.Set("{client_addr}", "192.0.2.7")
	s, err := f.NewSession(e.ctx, e.macros)
	if err != nil {
		t.Fatal(err)
	}
	e.sess = s
	return e
}

func (e *engine) close() { e.sess.Close(e.ctx) }

// connect runs connect and HELO (and an unknown command).
func (e *engine) connect(m message) outcome {
	if v := e.sess.Connect(e.ctx, m.conn); v.Action != filter.ActionContinue {
		return outcome{stage: filter.StageConnect, verdict: v}
	}
	if v := e.sess.Helo(e.ctx, m.helo); v.Action != filter.ActionContinue {
		return outcome{stage: filter.StageHelo, verdict: v}
	}
	if m.unknown != "" {
		if v := e.sess.Unknown(e.ctx, m.unknown); v.Action != filter.ActionContinue {
			return outcome{stage: filter.StageUnknown, verdict: v}
		}
	}
	return outcome{stage: filter.StageHelo, verdict: filter.Continue}
}

// transaction runs MAIL to end of message, stopping at a terminal
// verdict or an accept.
func (e *engine) transaction(m message) outcome {
	e.qid++
	e.macros.Set("i", fmt.Sprintf("QID%d", e.qid))
	e.macros.Set("{mail_addr}", m.from.Addr)
	stop := func(st filter.Stage, v filter.Verdict) (outcome, bool) {
		if v.Terminal() || v.Action == filter.ActionAccept {
			return outcome{stage: st, verdict: v}, true
		}
		return outcome{}, false
	}
	if o, done := stop(filter.StageMail, e.sess.Mail(e.ctx, m.from)); done {
		return o
	}
	for _, r := range m.rcpts {
		e.macros.Set("{rcpt_addr}", r.Addr)
		v := e.sess.Rcpt(e.ctx, r)
		if v.Action == filter.ActionDiscard || v.Action == filter.ActionAccept {
			return outcome{stage: filter.StageRcpt, verdict: v}
		}
	}
	if o, done := stop(filter.StageData, e.sess.Data(e.ctx)); done {
		return o
	}
	for _, h := range m.headers {
		if o, done := stop(filter.StageHeader, e.sess.Header(e.ctx, h[0], h[1])); done {
			return o
		}
	}
	if o, done := stop(filter.StageEndOfHeaders, e.sess.EndOfHeaders(e.ctx)); done {
		return o
	}
	if o, done := e.body(m, stop); done {
		return o
	}
	return e.eom()
}

func (e *engine) body(m message, stop func(filter.Stage, filter.Verdict) (outcome, bool)) (outcome, bool) {
	n := m.chunk
	if n == 0 {
		n = 4096
	}
	for b := m.body; len(b) > 0; {
		c := b[:min(n, len(b))]
		b = b[len(c):]
		v := e.sess.Body(e.ctx, c)
		if v.Action == filter.ActionSkip {
			break
		}
		if o, done := stop(filter.StageBody, v); done {
			return o, true
		}
	}
	return outcome{}, false
}

func (e *engine) eom() outcome {
	mod := filter.NewModifier(filter.AllEdits, nil)
	v := e.sess.EndOfMessage(e.ctx, mod)
	o := outcome{stage: filter.StageEndOfMessage, verdict: v, edits: mod.Edits()}
	for i, ed := range o.edits {
		if ed.Kind == filter.ReplaceBody {
			b, err := io.ReadAll(ed.Body)
			if err != nil {
				e.t.Fatalf("reading the replaced body: %v", err)
			}
			o.body = b
			o.edits[i].Body = nil
		}
	}
	return o
}

// recorder is a filter served by miltersrv: it records every call and
// answers from a table.
type recorder struct {
	needs    filter.Needs
	verdicts map[filter.Stage]filter.Verdict
	eom      func(*filter.Modifier)
	macros   map[filter.Stage][]string // macros to note at each stage

	mu    sync.Mutex
	calls []string
}

func (r *recorder) Needs() filter.Needs { return r.needs }

func (r *recorder) NewSession(_ context.Context, m filter.Macros) (filter.Session, error) {
	return &recSession{r: r, macros: m}, nil
}

func (r *recorder) note(s string) {
	r.mu.Lock()
	r.calls = append(r.calls, s)
	r.mu.Unlock()
}

// Calls returns the calls so far.
func (r *recorder) Calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.calls...)
}

// waitCalls waits until the last call is want (calls arrive on the
// server's goroutine) and returns them all.
func (r *recorder) waitCalls(t testing.TB, want string) []string {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for {
		c := r.Calls()
		if len(c) > 0 && c[len(c)-1] == want {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("calls %q do not end with %q", c, want)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

type recSession struct {
	r      *recorder
	macros filter.Macros
}

func (s *recSession) answer(st filter.Stage, call string) filter.Verdict {
	for _, name := range s.r.macros[st] {
		v, ok := s.macros.Macro(name)
		if ok {
			call += " " + name + "=" + v
		}
	}
	s.r.note(call)
	return s.r.verdicts[st]
}

func (s *recSession) Connect(_ context.Context, c *envelope.Conn) filter.Verdict {
	call := fmt.Sprintf("connect %s %c", c.ClientName, c.Family)
	if c.ClientAddr.IsValid() {
		call += " " + c.ClientAddr.String()
	}
	if c.ClientPath != "" {
		call += " " + c.ClientPath
	}
	return s.answer(filter.StageConnect, call)
}
func (s *recSession) Helo(_ context.Context, name string) filter.Verdict {
	return s.answer(filter.StageHelo, "helo "+name)
}
func (s *recSession) Mail(_ context.Context, a envelope.Address) filter.Verdict {
	return s.answer(filter.StageMail, strings.TrimSpace("mail <"+a.Addr+"> "+a.ParamString()))
}
func (s *recSession) Rcpt(_ context.Context, a envelope.Address) filter.Verdict {
	return s.answer(filter.StageRcpt, strings.TrimSpace("rcpt <"+a.Addr+"> "+a.ParamString()))
}
func (s *recSession) Data(context.Context) filter.Verdict { return s.answer(filter.StageData, "data") }
func (s *recSession) Header(_ context.Context, n, v string) filter.Verdict {
	return s.answer(filter.StageHeader, fmt.Sprintf("header %s:%q", n, v))
}
func (s *recSession) EndOfHeaders(context.Context) filter.Verdict {
	return s.answer(filter.StageEndOfHeaders, "eoh")
}
func (s *recSession) Body(_ context.Context, b []byte) filter.Verdict {
	if len(b) > 64 {
		return s.answer(filter.StageBody, fmt.Sprintf("body len=%d", len(b)))
	}
	return s.answer(filter.StageBody, fmt.Sprintf("body %q", b))
}
func (s *recSession) EndOfMessage(_ context.Context, m *filter.Modifier) filter.Verdict {
	if s.r.eom != nil {
		s.r.eom(m)
	}
	return s.answer(filter.StageEndOfMessage, "eom")
}
func (s *recSession) Abort(context.Context) { s.r.note("abort") }
func (s *recSession) Unknown(_ context.Context, cmd string) filter.Verdict {
	return s.answer(filter.StageUnknown, "unknown "+cmd)
}
func (s *recSession) Close(context.Context) { s.r.note("close") }

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// lines joins a list for readable failure output.
func lines(ss []string) string { return "\n\t" + strings.Join(ss, "\n\t") }

func repeatBody(n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "line %06d of the body, some text to fill it up\r\n", i)
	}
	return b.Bytes()[:n]
}

// step is one stage call of a scripted session.
type step struct {
	stage filter.Stage
	run   func() filter.Verdict
}

// steps scripts a whole session for m: connect, HELO, the unknown command
// if any, then one transaction, ending with EndOfMessage on mod.
func (e *engine) steps(m message, mod *filter.Modifier) []step {
	ctx, s := e.ctx, e.sess
	out := []step{
		{filter.StageConnect, func() filter.Verdict { return s.Connect(ctx, m.conn) }},
		{filter.StageHelo, func() filter.Verdict { return s.Helo(ctx, m.helo) }},
	}
	if m.unknown != "" {
		out = append(out, step{filter.StageUnknown, func() filter.Verdict { return s.Unknown(ctx, m.unknown) }})
	}
	out = append(out, step{filter.StageMail, func() filter.Verdict {
		e.qid++
		e.macros.Set("i", fmt.Sprintf("QID%d", e.qid))
		e.macros.Set("{mail_addr}", m.from.Addr)
		return s.Mail(ctx, m.from)
	}})
	for _, r := range m.rcpts {
		out = append(out, step{filter.StageRcpt, func() filter.Verdict {
			e.macros.Set("{rcpt_addr}", r.Addr)
			return s.Rcpt(ctx, r)
		}})
	}
	out = append(out, step{filter.StageData, func() filter.Verdict { return s.Data(ctx) }})
	for _, h := range m.headers {
		out = append(out, step{filter.StageHeader, func() filter.Verdict { return s.Header(ctx, h[0], h[1]) }})
	}
	out = append(out, step{filter.StageEndOfHeaders, func() filter.Verdict { return s.EndOfHeaders(ctx) }})
	n := m.chunk
	if n == 0 {
		n = 4096
	}
	for b := m.body; len(b) > 0; {
		c := b[:min(n, len(b))]
		b = b[len(c):]
		out = append(out, step{filter.StageBody, func() filter.Verdict { return s.Body(ctx, c) }})
	}
	return append(out, step{filter.StageEndOfMessage, func() filter.Verdict { return s.EndOfMessage(ctx, mod) }})
}
