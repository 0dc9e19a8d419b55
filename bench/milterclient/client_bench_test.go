//go:build linux

package milterclientbench

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/filter"
	"github.com/sluice-mta/sluice/milterclient"
)

// messagesPerConn is how many messages a reused SMTP connection carries
// (conn=reuse); conn=per-message opens one per message, as smtp-source
// does by default and so as Postfix then talks to its milters.
const messagesPerConn = 100

// message is what an SMTP engine hands the client: headers, then the body
// in chunks of at most 64 KiB.
type message struct {
	headers [][2]string
	chunks  [][]byte
	size    int
}

func newMessage(size int) *message {
	m := &message{
		headers: [][2]string{
			{"Received", " from client.example.net (client.example.net [192.0.2.10]) by mx.example.org; Tue, 1 Apr 2025 10:00:00 +0000"},
			{"From", " <from@test>"}, {"To", " <to@test>"}, {"Subject", " benchmark"},
			{"Date", " Tue, 1 Apr 2025 10:00:00 +0000"}, {"Message-Id", " <bench@client.example.net>"},
		},
		size: size,
	}
	body := make([]byte, 0, size)
	for i := 0; len(body) < size; i++ {
		body = fmt.Appendf(body, "La de da de da %d.\r\n", i)
	}
	body = body[:size]
	for len(body) > 0 {
		n := min(64<<10, len(body))
		m.chunks = append(m.chunks, body[:n])
		body = body[n:]
	}
	return m
}

var (
	benchConn = &envelope.Conn{ClientName: "client.example.net", ClientAddr: netip.MustParseAddrPort("192.0.2.10:54321")}
	benchFrom = envelope.Address{Addr: "from@test", Params: []envelope.Param{{Key: "SIZE", Value: "1024"}}}
	benchRcpt = envelope.Address{Addr: "to@test"}
)

// newMacros returns the facts Postfix would send, for one SMTP connection.
func newMacros() filter.MacroMap {
	m := filter.MacroMap{}
	for k, v := range map[string]string{
		"j": "mx.example.org", "{daemon_name}": "smtpd", "{daemon_addr}": "127.0.0.1", "v": "Postfix 3.7",
		"_": "client.example.net [192.0.2.10]", "i": "4Xq1A2b3c4", "{mail_addr}": "from@test",
		"{rcpt_addr}": "to@test", "{rcpt_mailer}": "smtp", "{rcpt_host}": "test",
	} {
		m.Set(k, v)
	}
	return m
}

// driver plays the SMTP engine for one goroutine: it opens SMTP
// connections (client sessions) and sends messages through them.
type driver struct {
	m      *milterclient.Milter
	msg    *message
	reuse  bool
	macros filter.MacroMap
	s      *milterclient.Session
	sent   int // messages on s
}

func (d *driver) close() {
	if d.s != nil {
		d.s.Close(context.Background())
		d.s = nil
	}
}

// open starts an SMTP connection: connect and HELO.
func (d *driver) open(ctx context.Context) error {
	d.close()
	d.s, d.sent = d.m.Open(ctx, d.macros), 0
	if v := d.s.Connect(ctx, benchConn); v != filter.Continue {
		return fmt.Errorf("connect: %v (%v)", v, d.s.Err())
	}
	if v := d.s.Helo(ctx, "client.example.net"); v != filter.Continue {
		return fmt.Errorf("helo: %v (%v)", v, d.s.Err())
	}
	return nil
}

// send sends one message, on a new SMTP connection unless reuse allows
// one more on the current one, and checks the milter's one edit.
func (d *driver) send(ctx context.Context) error {
	if d.s == nil || !d.reuse || d.sent == messagesPerConn {
		if err := d.open(ctx); err != nil {
			return err
		}
	}
	d.sent++
	s := d.s
	for _, st := range [...]struct {
		name string
		v    func() filter.Verdict
	}{
		{"mail", func() filter.Verdict { return s.Mail(ctx, benchFrom) }},
		{"rcpt", func() filter.Verdict { return s.Rcpt(ctx, benchRcpt) }},
		{"data", func() filter.Verdict { return s.Data(ctx) }},
	} {
		if v := st.v(); v != filter.Continue {
			return fmt.Errorf("%s: %v (%v)", st.name, v, s.Err())
		}
	}
	for _, h := range d.msg.headers {
		if v := s.Header(ctx, h[0], h[1]); v != filter.Continue {
			return fmt.Errorf("header: %v (%v)", v, s.Err())
		}
	}
	if v := s.EndOfHeaders(ctx); v != filter.Continue {
		return fmt.Errorf("eoh: %v (%v)", v, s.Err())
	}
	for _, c := range d.msg.chunks {
		if v := s.Body(ctx, c); v != filter.Continue {
			return fmt.Errorf("body: %v (%v)", v, s.Err())
		}
	}
	mod := filter.NewModifier(filter.AllEdits, nil)
	if v := s.EndOfMessage(ctx, mod); v != filter.Continue {
		return fmt.Errorf("eom: %v (%v)", v, s.Err())
	}
	return checkEdits(mod.Edits())
}

// checkEdits wants exactly the one header every milter under test adds.
func checkEdits(edits []filter.Edit) error {
	if len(edits) != 1 || edits[0].Kind != filter.AddHeader || edits[0].Name != headerName ||
		strings.TrimSpace(edits[0].Value) != headerValue {
		return fmt.Errorf("edits %v, want addheader %s: %s", edits, headerName, headerValue)
	}
	return nil
}

// newClient returns a client for the milter at addr.
func newClient(tb testing.TB, addr string, trace func(milterclient.Trace)) *milterclient.Milter {
	tb.Helper()
	m, err := milterclient.New(milterclient.Options{
		Address:        addr,
		Logger:         discardLogger(),
		ConnectTimeout: ioTimeout,
		CommandTimeout: ioTimeout,
		EOMTimeout:     ioTimeout,
		TempDir:        tb.TempDir(),
		Breaker:        milterclient.BreakerOptions{Failures: -1},
		Trace:          trace,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

func sizeName(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

// Environment variables that change BenchmarkClient's concurrencies and
// body sizes (space-separated numbers; run.sh sets them).
const (
	sessionsEnv = "SLUICE_BENCH_SESSIONS" // default "1 50"
	sizesEnv    = "SLUICE_BENCH_SIZES"    // bytes; default "1024 1048576"
)

func envInts(tb testing.TB, name string, def []int) []int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	var out []int
	for _, f := range strings.Fields(v) {
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			tb.Fatalf("%s: %q is not a positive number", name, f)
		}
		out = append(out, n)
	}
	return out
}

// BenchmarkClient: see the package doc. One op is one message.
//
//	go test -run '^$' -bench . -benchmem ./bench/milterclient/
func BenchmarkClient(b *testing.B) {
	addheader := addheaderBuilder(b.TempDir())
	for _, kind := range []string{kindLibmilter, kindMiltersrv, kindBody} {
		b.Run("target="+kind, func(b *testing.B) {
			for _, socket := range []string{"unix", "inet"} {
				b.Run("socket="+socket, func(b *testing.B) {
					p := startMilter(b, kind, socket, func() string { return addheader(b) })
					benchMilter(b, p)
				})
			}
		})
	}
}

func benchMilter(b *testing.B, p *milterProc) {
	sessionCounts := envInts(b, sessionsEnv, []int{1, 50})
	sizes := envInts(b, sizesEnv, []int{1 << 10, 1 << 20})
	for _, conn := range []string{"per-message", "reuse"} {
		for _, sessions := range sessionCounts {
			for _, size := range sizes {
				name := fmt.Sprintf("conn=%s/sessions=%d/size=%s", conn, sessions, sizeName(size))
				b.Run(name, func(b *testing.B) {
					runMessages(b, p, conn == "reuse", sessions, newMessage(size))
				})
			}
		}
	}
}

// runMessages sends b.N messages through sessions concurrent SMTP
// connections and reports msgs/s and the CPU time per message of the
// client (this process) and of the milter.
func runMessages(b *testing.B, p *milterProc, reuse bool, sessions int, msg *message) {
	c := newClient(b, p.addr, nil)
	var next atomic.Int64
	var once sync.Once
	var firstErr error
	worker := func() {
		d := &driver{m: c, msg: msg, reuse: reuse, macros: newMacros()}
		defer d.close()
		for next.Add(1) <= int64(b.N) {
			if err := d.send(context.Background()); err != nil {
				once.Do(func() { firstErr = err })
				return
			}
		}
	}
	b.ReportAllocs()
	milter0, err := procCPU(p.pid())
	if err != nil {
		b.Fatal(err)
	}
	self0 := selfCPU()
	b.ResetTimer()
	var wg sync.WaitGroup
	for range sessions {
		wg.Go(worker)
	}
	wg.Wait()
	b.StopTimer()
	self1 := selfCPU()
	milter1, err := procCPU(p.pid())
	if err = errors.Join(firstErr, err); err != nil {
		b.Fatal(err)
	}
	n := float64(b.N)
	b.ReportMetric(n/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64((self1-self0)/time.Microsecond)/n, "client-cpu-us/msg")
	b.ReportMetric(float64((milter1-milter0)/time.Microsecond)/n, "milter-cpu-us/msg")
}
