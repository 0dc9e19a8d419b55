package miltersrv

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"reflect"

	"sync"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/filter"
	"github.com/sluice-mta/sluice/milter"
)

// allActions and allProtocol are what Postfix 3.7 offers.
const allActions = milter.ActAddHeader | milter.ActChangeBody | milter.ActAddRcpt | milter.ActDelRcpt |
	milter.ActChangeHeader | milter.ActQuarantine | milter.ActChangeFrom | milter.ActAddRcptPar | milter.ActSetSymList

const allProtocol = milter.ProtoNoConnect | milter.ProtoNoHelo | milter.ProtoNoMail | milter.ProtoNoRcpt |
	milter.ProtoNoBody | milter.ProtoNoHeaders | milter.ProtoNoEOH | milter.ProtoNRHeader | milter.ProtoNoUnknown |
	milter.ProtoNoData | milter.ProtoSkip | milter.ProtoRcptRej | milter.ProtoNRConnect | milter.ProtoNRHelo |
	milter.ProtoNRMail | milter.ProtoNRRcpt | milter.ProtoNRData | milter.ProtoNRUnknown | milter.ProtoNREOH |
	milter.ProtoNRBody | milter.ProtoHdrLeadSpace | milter.ProtoMDS256K | milter.ProtoMDS1M

// mta is the MTA side of a test: it speaks raw milter packets.
type mta struct {
	t  testing.TB
	nc net.Conn
	r  *milter.Reader
	w  *milter.Writer
}

// serve starts a server for f on a loopback port and returns it with its
// address. It is shut down at the end of the test.
func serve(t testing.TB, f filter.Filter, opts Options) (*Server, string) {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	srv := New(f, opts)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return srv, l.Addr().String()
}

func dialMTA(t testing.TB, addr string) *mta {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	return &mta{t: t, nc: nc, r: milter.NewReader(nc, milter.MaxPacketFor(milter.ProtoMDS1M)), w: milter.NewWriter(nc)}
}

func (m *mta) send(cmds ...milter.Command) {
	m.t.Helper()
	for _, c := range cmds {
		if err := m.w.WritePacket(c.Encode()); err != nil {
			m.t.Fatalf("sending %v: %v", c, err)
		}
	}
	if err := m.w.Flush(); err != nil {
		m.t.Fatalf("flush: %v", err)
	}
}

func (m *mta) recv() milter.Response {
	m.t.Helper()
	p, err := m.r.ReadPacket()
	if err != nil {
		m.t.Fatalf("reading reply: %v", err)
	}
	resp, err := milter.DecodeResponse(p)
	if err != nil {
		m.t.Fatalf("decoding reply: %v", err)
	}
	return resp
}

// expect reads one reply per want and compares them exactly.
func (m *mta) expect(want ...milter.Response) {
	m.t.Helper()
	for _, w := range want {
		if got := m.recv(); !reflect.DeepEqual(got, w) {
			m.t.Fatalf("reply = %#v, want %#v", got, w)
		}
	}
}

// expectClosed asserts the server closes the connection.
func (m *mta) expectClosed() {
	m.t.Helper()
	m.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	p, err := m.r.ReadPacket()
	if err == nil {
		m.t.Fatalf("got %v, want the connection closed", p)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		m.t.Fatalf("connection still open after 10s")
	}
}

// negotiate sends Postfix's offer and returns the server's answer.
func (m *mta) negotiate(version uint32, acts milter.ActionFlags, proto milter.ProtoFlags) milter.OptNeg {
	m.t.Helper()
	m.send(milter.OptNeg{Version: version, Actions: acts, Protocol: proto})
	resp := m.recv()
	o, ok := resp.(milter.OptNeg)
	if !ok {
		m.t.Fatalf("negotiation reply = %#v", resp)
	}
	return o
}

// recorder is a filter that records every call and answers from a table.
type recorder struct {
	needs    filter.Needs
	verdicts map[filter.Stage]filter.Verdict
	eom      func(context.Context, *filter.Modifier)
	panicAt  filter.Stage
	panics   bool

	mu       sync.Mutex
	calls    []string
	sessions int
	closed   int
}

func (r *recorder) Needs() filter.Needs { return r.needs }

func (r *recorder) NewSession(ctx context.Context, m filter.Macros) (filter.Session, error) {
	r.mu.Lock()
	r.sessions++
	r.mu.Unlock()
	return &recSession{r: r, macros: m}, nil
}

func (r *recorder) log(s string) {
	r.mu.Lock()
	r.calls = append(r.calls, s)
	r.mu.Unlock()
}

func (r *recorder) Calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.calls...)
}

type recSession struct {
	r      *recorder
	macros filter.Macros
}

func (s *recSession) answer(st filter.Stage, call string) filter.Verdict {
	s.r.log(call)
	if s.r.panics && s.r.panicAt == st {
		panic("boom at " + st.String())
	}
	return s.r.verdicts[st]
}

func (s *recSession) Connect(_ context.Context, c *envelope.Conn) filter.Verdict {
	return s.answer(filter.StageConnect, "connect "+c.ClientName+" "+c.ClientAddr.String())
}
func (s *recSession) Helo(_ context.Context, name string) filter.Verdict {
	return s.answer(filter.StageHelo, "helo "+name)
}
func (s *recSession) Mail(_ context.Context, a envelope.Address) filter.Verdict {
	i, _ := s.macros.Macro("i")
	return s.answer(filter.StageMail, "mail "+a.Addr+" "+a.ParamString()+" i="+i)
}
func (s *recSession) Rcpt(_ context.Context, a envelope.Address) filter.Verdict {
	return s.answer(filter.StageRcpt, "rcpt "+a.Addr)
}
func (s *recSession) Data(context.Context) filter.Verdict { return s.answer(filter.StageData, "data") }
func (s *recSession) Header(_ context.Context, n, v string) filter.Verdict {
	return s.answer(filter.StageHeader, "header "+n+":"+v)
}
func (s *recSession) EndOfHeaders(context.Context) filter.Verdict {
	return s.answer(filter.StageEndOfHeaders, "eoh")
}
func (s *recSession) Body(_ context.Context, b []byte) filter.Verdict {
	return s.answer(filter.StageBody, "body "+string(b))
}
func (s *recSession) EndOfMessage(ctx context.Context, m *filter.Modifier) filter.Verdict {
	if s.r.eom != nil {
		s.r.eom(ctx, m)
	}
	return s.answer(filter.StageEndOfMessage, "eom")
}
func (s *recSession) Abort(context.Context) { s.r.log("abort") }
func (s *recSession) Unknown(_ context.Context, cmd string) filter.Verdict {
	return s.answer(filter.StageUnknown, "unknown "+cmd)
}
func (s *recSession) Close(context.Context) {
	s.r.log("close")
	s.r.mu.Lock()
	s.r.closed++
	s.r.mu.Unlock()
}

// message sends a whole SMTP session's worth of commands for one message,
// as Postfix does when no stage is negotiated away.
func messageCommands() []milter.Command {
	return []milter.Command{
		milter.Macro{Stage: milter.CmdConnect, Pairs: []string{"j", "mx.test", "{client_addr}", "192.0.2.7"}},
		milter.Connect{Hostname: "client.test", Family: '4', Port: 40000, Address: "192.0.2.7"},
		milter.Helo{Name: "client.test"},
		milter.Macro{Stage: milter.CmdMail, Pairs: []string{"i", "QID1"}},
		milter.Mail{Args: []string{"<a@example.com>", "SIZE=100", "BODY=8BITMIME"}},
		milter.Rcpt{Args: []string{"<b@example.org>"}},
		milter.Data{},
		milter.Header{Name: "Subject", Value: "hi"},
		milter.EndOfHeaders{},
		milter.Body{Chunk: []byte("hello\r\n")},
		milter.EndOfBody{},
	}
}

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

func bodyOf(resps []milter.Response) []byte {
	var b bytes.Buffer
	for _, r := range resps {
		if rb, ok := r.(milter.ReplaceBody); ok {
			b.Write(rb.Chunk)
		}
	}
	return b.Bytes()
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
