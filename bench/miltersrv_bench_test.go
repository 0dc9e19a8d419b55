//go:build linux

package bench

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/filter"
	"github.com/sluice-mta/sluice/filter/headers"
	"github.com/sluice-mta/sluice/milter"
	"github.com/sluice-mta/sluice/miltersrv"
)

// What Postfix 3.x offers with milter_protocol = 6: every action and every
// stage and extension bit of version 6, no data-size extension.
const (
	postfixActions  = milter.ActAll
	postfixProtocol = milter.ProtoAll
)

// The field the filter under test adds, as in sluice's default
// configuration ([filters.headers] add = ["X-Filtered-By: sluice"]).
const (
	headerName  = "X-Filtered-By"
	headerValue = "sluice"
)

// ioTimeout bounds every wait on a socket.
const ioTimeout = 30 * time.Second

const kiB = 1024

// newHeadersFilter returns the built-in headers filter adding one field:
// it skips every stage but end of message.
func newHeadersFilter(tb testing.TB) *headers.Filter {
	tb.Helper()
	f, err := headers.New(headers.Options{Add: []headers.Header{{Name: headerName, Value: headerValue}}})
	if err != nil {
		tb.Fatal(err)
	}
	return f
}

// bodyFilter is the headers filter that also takes the body chunks, so the
// MTA sends them; it counts the bytes it sees.
type bodyFilter struct {
	*headers.Filter
	seen *atomic.Int64
}

func (f bodyFilter) Needs() filter.Needs {
	n := f.Filter.Needs()
	n.Skip &^= filter.Stages(filter.StageBody)
	return n
}

func (f bodyFilter) NewSession(ctx context.Context, m filter.Macros) (filter.Session, error) {
	s, err := f.Filter.NewSession(ctx, m)
	if err != nil {
		return nil, err
	}
	return &bodySession{Session: s, seen: f.seen}, nil
}

type bodySession struct {
	filter.Session
	seen *atomic.Int64
}

func (s *bodySession) Body(_ context.Context, chunk []byte) filter.Verdict {
	s.seen.Add(int64(len(chunk)))
	return filter.Continue
}

// startServer serves f on a loopback TCP port or a unix socket and returns
// the address to dial. The server is closed at the end of tb.
func startServer(tb testing.TB, network string, f filter.Filter) string {
	tb.Helper()
	var l net.Listener
	var err error
	switch network {
	case "tcp":
		l, err = net.Listen("tcp", "127.0.0.1:0")
	case "unix":
		l, err = net.Listen("unix", shortSocketPath(tb))
	default:
		tb.Fatalf("unknown network %q", network)
	}
	if err != nil {
		tb.Fatal(err)
	}
	srv := miltersrv.New(f, miltersrv.Options{
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
		MaxConnections: 1000,
	})
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	tb.Cleanup(func() {
		srv.Close()
		select {
		case err := <-done:
			if !errors.Is(err, miltersrv.ErrServerClosed) {
				tb.Errorf("Serve: %v", err)
			}
		case <-time.After(ioTimeout):
			tb.Errorf("Serve did not return after Close")
		}
	})
	return l.Addr().String()
}

// shortSocketPath returns a socket path in a new directory removed at the
// end of tb. TempDir paths carry the test name and may exceed the 108
// bytes a socket path may have.
func shortSocketPath(tb testing.TB) string {
	tb.Helper()
	dir, err := os.MkdirTemp("", "sluice-bench-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "milter.sock")
}

// step is one write of the MTA and the replies it then waits for.
type step struct {
	out  []byte          // framed packets
	want []milter.Packet // replies, compared byte for byte
}

// script is one SMTP session as Postfix sends it to one milter.
type script struct {
	steps []step
	// tail ends the session and gets no reply (SMFIC_ABORT after the
	// transaction, then SMFIC_QUIT_NC or SMFIC_QUIT). It goes out with the
	// next write, as Postfix's buffered stream sends it.
	tail []byte
}

// message is what the SMTP client sends after DATA.
type message struct {
	headers [][2]string
	body    []byte
}

func newMessage(bodySize int) message {
	line := "The quick brown fox jumps over the lazy dog; 0123456789 abcdefghijklmnop.\r\n"
	body := bytes.Repeat([]byte(line), bodySize/len(line)+1)[:bodySize]
	if bodySize >= 2 {
		copy(body[bodySize-2:], "\r\n")
	}
	return message{
		headers: [][2]string{
			{"From", "Sender <sender@example.com>"},
			{"To", "rcpt@example.org"},
			{"Subject", "benchmark message"},
			{"Date", "Mon, 02 Jun 2025 10:00:00 +0000"},
			{"Message-ID", "<bench.1@example.com>"},
			{"MIME-Version", "1.0"},
			{"Content-Type", "text/plain; charset=us-ascii"},
		},
		body: body,
	}
}

// scriptBuilder frames the packets of a script.
type scriptBuilder struct {
	proto milter.ProtoFlags
	buf   bytes.Buffer
	w     *milter.Writer
	s     script
	err   error
}

func (sb *scriptBuilder) put(cmds ...milter.Command) {
	for _, c := range cmds {
		if err := sb.w.WritePacket(c.Encode()); err != nil && sb.err == nil {
			sb.err = err
		}
	}
}

// take returns the packets framed since the last take.
func (sb *scriptBuilder) take() []byte {
	if err := sb.w.Flush(); err != nil && sb.err == nil {
		sb.err = err
	}
	out := bytes.Clone(sb.buf.Bytes())
	sb.buf.Reset()
	return out
}

// expect closes a step that waits for resps.
func (sb *scriptBuilder) expect(resps ...milter.Response) {
	st := step{out: sb.take()}
	for _, r := range resps {
		st.want = append(st.want, r.Encode())
	}
	sb.s.steps = append(sb.s.steps, st)
}

// event sends one SMTP event as Postfix's milter8_event does: the macros
// first (even for an event the filter skips), then the event unless
// skipped, and waits for a reply unless the stage has none.
func (sb *scriptBuilder) event(pairs []string, c milter.Command) {
	if pairs != nil {
		sb.put(milter.Macro{Stage: c.Code(), Pairs: pairs})
	}
	if sb.proto.Skips(c.Code()) {
		return
	}
	sb.put(c)
	if sb.proto.ReplyExpected(c.Code()) {
		sb.expect(milter.Continue{})
	}
}

// postfixSession scripts one SMTP session with one message under the
// agreed protocol flags, with the macros of Postfix's default
// milter_*_macros for a client without TLS or AUTH. last ends the session
// with SMFIC_QUIT (the connection closes) instead of SMFIC_QUIT_NC.
func postfixSession(proto milter.ProtoFlags, msg message, last bool) (*script, error) {
	sb := &scriptBuilder{proto: proto}
	sb.w = milter.NewWriter(&sb.buf)
	const qid = "4ZxYq12Kz3z9vB"
	sb.event([]string{"j", "mx.example.net", "{daemon_name}", "smtpd", "{daemon_addr}", "127.0.0.1",
		"v", "Postfix 3.7.11", "_", "client.example.com [192.0.2.7]"},
		milter.Connect{Hostname: "client.example.com", Family: milter.FamilyInet, Port: 41234, Address: "192.0.2.7"})
	sb.event([]string{}, milter.Helo{Name: "client.example.com"})
	sb.event([]string{"i", qid, "{mail_addr}", "sender@example.com", "{mail_host}", "example.com", "{mail_mailer}", "smtp"},
		milter.Mail{Args: []string{"<sender@example.com>", "SIZE=" + strconv.Itoa(len(msg.body))}})
	sb.event([]string{"i", qid, "{rcpt_addr}", "rcpt@example.org", "{rcpt_host}", "example.org", "{rcpt_mailer}", "smtp"},
		milter.Rcpt{Args: []string{"<rcpt@example.org>"}})
	sb.event([]string{"i", qid}, milter.Data{})
	for _, h := range msg.headers {
		sb.event(nil, milter.Header{Name: h[0], Value: h[1]})
	}
	sb.event([]string{"i", qid}, milter.EndOfHeaders{})
	for rest := msg.body; len(rest) > 0; {
		n := min(len(rest), milter.ChunkSize)
		sb.event(nil, milter.Body{Chunk: rest[:n]})
		rest = rest[n:]
	}
	sb.put(milter.Macro{Stage: milter.CmdEndOfBody, Pairs: []string{"i", qid}}, milter.EndOfBody{})
	sb.expect(milter.AddHeader{Name: headerName, Value: headerValue}, milter.Continue{})
	sb.put(milter.Abort{})
	if last {
		sb.put(milter.Quit{})
	} else {
		sb.put(milter.QuitNewConn{})
	}
	sb.s.tail = sb.take()
	return &sb.s, sb.err
}

// mta is the MTA end of one milter connection.
type mta struct {
	nc      net.Conn
	r       *milter.Reader
	proto   milter.ProtoFlags // agreed
	pending []byte            // the previous session's tail, not yet sent
	buf     []byte            // scratch for pending plus the next write
}

// dialMTA connects and negotiates as Postfix does.
func dialMTA(network, addr string) (*mta, error) {
	nc, err := net.DialTimeout(network, addr, ioTimeout)
	if err != nil {
		return nil, err
	}
	m := &mta{nc: nc, r: milter.NewReader(nc, milter.DefaultMaxPacket)}
	if err := m.negotiate(); err != nil {
		nc.Close()
		return nil, err
	}
	return m, nil
}

func (m *mta) negotiate() error {
	m.nc.SetDeadline(time.Now().Add(ioTimeout))
	offer := milter.OptNeg{Version: milter.ProtocolVersion, Actions: postfixActions, Protocol: postfixProtocol}
	if _, err := m.nc.Write(frame(offer.Encode())); err != nil {
		return err
	}
	p, err := m.r.ReadPacket()
	if err != nil {
		return fmt.Errorf("reading the negotiation reply: %w", err)
	}
	resp, err := milter.DecodeResponse(p)
	if err != nil {
		return err
	}
	reply, ok := resp.(milter.OptNeg)
	if !ok {
		return fmt.Errorf("negotiation reply is %v", resp)
	}
	agreed, err := milter.CheckReply(offer, reply)
	if err != nil {
		return err
	}
	if agreed.Actions&milter.ActAddHeader == 0 {
		return fmt.Errorf("filter did not ask for SMFIF_ADDHDRS: %v", agreed)
	}
	m.proto = agreed.Protocol
	return nil
}

// frame returns p as it goes on the wire.
func frame(p milter.Packet) []byte {
	b := binary.BigEndian.AppendUint32(make([]byte, 0, 5+len(p.Data)), uint32(1+len(p.Data)))
	return append(append(b, p.Code), p.Data...)
}

// session runs s: it writes each step and checks the replies exactly.
func (m *mta) session(s *script) error {
	m.nc.SetDeadline(time.Now().Add(ioTimeout))
	for _, st := range s.steps {
		out := st.out
		if len(m.pending) > 0 {
			m.buf = append(append(m.buf[:0], m.pending...), out...)
			out, m.pending = m.buf, nil
		}
		if _, err := m.nc.Write(out); err != nil {
			return err
		}
		for _, want := range st.want {
			p, err := m.r.ReadPacket()
			if err != nil {
				return fmt.Errorf("reading a reply: %w", err)
			}
			if p.Code != want.Code || !bytes.Equal(p.Data, want.Data) {
				return fmt.Errorf("reply %s %q, want %s %q", p, p.Data, want, want.Data)
			}
		}
	}
	m.pending = s.tail
	return nil
}

// close sends what is pending, then SMFIC_QUIT unless the pending tail
// already ends with it, and closes the connection.
func (m *mta) close() error {
	out := m.pending
	if !bytes.HasSuffix(out, []byte{0, 0, 0, 1, milter.CmdQuit}) {
		out = append(bytes.Clone(out), 0, 0, 0, 1, milter.CmdQuit)
	}
	m.nc.SetDeadline(time.Now().Add(ioTimeout))
	_, err := m.nc.Write(out)
	if cerr := m.nc.Close(); err == nil {
		err = cerr
	}
	return err
}

// sessionCase is one filter and message of BenchmarkMilterSession.
type sessionCase struct {
	name     string
	bodySize int
	body     bool // the filter takes body chunks
}

var sessionCases = []sessionCase{
	{name: "headers", bodySize: 1 * kiB},
	{name: "body=1KiB", bodySize: 1 * kiB, body: true},
	{name: "body=64KiB", bodySize: 64 * kiB, body: true},
	{name: "body=1MiB", bodySize: 1024 * kiB, body: true},
}

func (c sessionCase) filter(tb testing.TB, seen *atomic.Int64) filter.Filter {
	if c.body {
		return bodyFilter{Filter: newHeadersFilter(tb), seen: seen}
	}
	return newHeadersFilter(tb)
}

// BenchmarkMilterSession runs one SMTP session per iteration against a
// miltersrv.Server serving the headers filter (sub-benchmark "headers":
// Postfix sends only macros and the end of message) or the headers filter
// that also reads the body ("body=SIZE": every chunk is answered).
//
//   - NET/CASE: sessions one after another on one connection, separated
//     by SMFIC_QUIT_NC, as Sendmail reuses a milter connection.
//   - NET/newconn: "headers" with a new connection and negotiation per
//     session, ended by SMFIC_QUIT, as Postfix does for each SMTP client.
//   - NET/conns=N: "headers" on N connections running sessions in
//     parallel.
//
// The allocations counted are the server's plus the MTA side's, which
// allocates nothing per session except in newconn (dial and negotiation).
func BenchmarkMilterSession(b *testing.B) {
	for _, network := range []string{"tcp", "unix"} {
		b.Run(network, func(b *testing.B) {
			for _, c := range sessionCases {
				b.Run(c.name, func(b *testing.B) { benchSequential(b, network, c) })
			}
			b.Run("newconn", func(b *testing.B) { benchNewConn(b, network) })
			for _, conns := range []int{10, 50} {
				b.Run(fmt.Sprintf("conns=%d", conns), func(b *testing.B) { benchParallel(b, network, conns) })
			}
		})
	}
}

func benchSequential(b *testing.B, network string, c sessionCase) {
	var seen atomic.Int64
	addr := startServer(b, network, c.filter(b, &seen))
	m, s := dialAndScript(b, network, addr, newMessage(c.bodySize))
	if c.body {
		b.SetBytes(int64(c.bodySize))
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cpuTime(b)
	for range b.N {
		if err := m.session(s); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	reportRate(b, cpu)
	if err := m.close(); err != nil {
		b.Fatal(err)
	}
	if c.body && seen.Load() != int64(b.N)*int64(c.bodySize) {
		b.Fatalf("filter saw %d body bytes, want %d", seen.Load(), int64(b.N)*int64(c.bodySize))
	}
}

// dialAndScript opens one MTA connection and scripts a session for the
// protocol it agreed.
func dialAndScript(tb testing.TB, network, addr string, msg message) (*mta, *script) {
	tb.Helper()
	m, err := dialMTA(network, addr)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := postfixSession(m.proto, msg, false)
	if err != nil {
		tb.Fatal(err)
	}
	return m, s
}

func benchNewConn(b *testing.B, network string) {
	addr := startServer(b, network, newHeadersFilter(b))
	m, _ := dialAndScript(b, network, addr, newMessage(kiB))
	s, err := postfixSession(m.proto, newMessage(kiB), true)
	if err != nil {
		b.Fatal(err)
	}
	if err := m.close(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cpuTime(b)
	for range b.N {
		m, err := dialMTA(network, addr)
		if err == nil {
			err = m.session(s)
		}
		if err == nil {
			err = m.close()
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	reportRate(b, cpu)
}

func benchParallel(b *testing.B, network string, conns int) {
	addr := startServer(b, network, newHeadersFilter(b))
	msg := newMessage(kiB)
	mtas := make([]*mta, conns)
	var s *script
	for i := range mtas {
		mtas[i], s = dialAndScript(b, network, addr, msg)
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cpuTime(b)
	var next atomic.Int64
	errs := make(chan error, conns)
	var wg sync.WaitGroup
	for _, m := range mtas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				if err := m.session(s); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	reportRate(b, cpu)
	for _, m := range mtas {
		if err := m.close(); err != nil {
			b.Fatal(err)
		}
	}
}

// reportRate reports msgs/s and cpu-us/msg: the user and system CPU time
// of this whole process (server and MTA side, every thread) per session
// since start, which other load on the machine disturbs less than msgs/s.
func reportRate(b *testing.B, start time.Duration) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(b.N)/s, "msgs/s")
	}
	b.ReportMetric(float64((cpuTime(b)-start).Microseconds())/float64(b.N), "cpu-us/msg")
}

// cpuTime returns the user plus system CPU time of this process.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestSessionScripts checks what the benchmarks measure: each scripted
// session gets exactly the replies it waits for, the body reaches the
// filter whole, and the headers filter makes Postfix send one write per
// session.
func TestSessionScripts(t *testing.T) {
	for _, network := range []string{"tcp", "unix"} {
		for _, c := range sessionCases {
			t.Run(network+"/"+c.name, func(t *testing.T) {
				var seen atomic.Int64
				addr := startServer(t, network, c.filter(t, &seen))
				m, s := dialAndScript(t, network, addr, newMessage(c.bodySize))
				wantSteps := 1
				if c.body {
					wantSteps += (c.bodySize + milter.ChunkSize - 1) / milter.ChunkSize
				}
				if len(s.steps) != wantSteps {
					t.Errorf("session has %d round trips, want %d (agreed %v)", len(s.steps), wantSteps, m.proto)
				}
				const sessions = 3
				for range sessions {
					if err := m.session(s); err != nil {
						t.Fatal(err)
					}
				}
				if err := m.close(); err != nil {
					t.Fatal(err)
				}
				if want := int64(0); !c.body && seen.Load() != want {
					t.Errorf("filter saw %d body bytes, want none", seen.Load())
				}
				if want := int64(sessions * c.bodySize); c.body && seen.Load() != want {
					t.Errorf("filter saw %d body bytes, want %d", seen.Load(), want)
				}
			})
		}
	}
}

// TestSessionWrongReplyFails checks that a session fails when the server's
// replies differ from the script, so the benchmark cannot time a broken
// exchange.
func TestSessionWrongReplyFails(t *testing.T) {
	addr := startServer(t, "tcp", newHeadersFilter(t))
	m, s := dialAndScript(t, "tcp", addr, newMessage(kiB))
	defer m.nc.Close()
	bad := *s
	bad.steps = []step{{out: s.steps[0].out, want: []milter.Packet{milter.AddHeader{Name: headerName, Value: "other"}.Encode()}}}
	err := m.session(&bad)
	if err == nil || !strings.Contains(err.Error(), `want SMFIR_ADDHEADER`) {
		t.Fatalf("session with a wrong expected reply: err = %v", err)
	}
}
