package milterclient_test

// Benchmarks: messages per second through the client to our miltersrv,
// with 1 and 50 concurrent sessions, 1 KiB and 1 MiB messages, each SMTP
// connection carrying several messages (reuse) or one (perconn). The
// milter server runs in a child process (this test binary, re-executed),
// so allocs/op counts the client's allocations per message only.
//
//	go test -run '^$' -bench . -benchmem ./milterclient/

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/filter"
	"github.com/sluice-mta/sluice/milterclient"
	"github.com/sluice-mta/sluice/miltersrv"
)

const benchServerEnv = "MILTERCLIENT_BENCH_SERVER"

func TestMain(m *testing.M) {
	if os.Getenv(benchServerEnv) != "" {
		serveForBench()
		return
	}
	os.Exit(m.Run())
}

// benchFilter sees every stage and adds a header at end of message, like
// sluice's default configuration.
type benchFilter struct{}

func (benchFilter) Needs() filter.Needs { return filter.Needs{Edits: filter.EditAddHeader} }
func (benchFilter) NewSession(context.Context, filter.Macros) (filter.Session, error) {
	return benchSession{}, nil
}

type benchSession struct{ filter.Base }

func (benchSession) EndOfMessage(_ context.Context, m *filter.Modifier) filter.Verdict {
	m.AddHeader("X-Filtered-By", "sluice")
	return filter.Continue
}

// serveForBench is the child process: it serves benchFilter on a loopback
// port, prints the address, and exits when its stdin closes.
func serveForBench() {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	srv := miltersrv.New(benchFilter{}, miltersrv.Options{Logger: quietLogger(), MaxConnections: 200})
	go srv.Serve(l)
	fmt.Println(inetAddr(l))
	io.Copy(io.Discard, os.Stdin)
	srv.Close()
}

func startBenchServer(b *testing.B) string {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), benchServerEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		stdin.Close()
		cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "inet:") {
		b.Fatalf("bench server: %q %v", line, err)
	}
	return strings.TrimSpace(line)
}

// benchMessage is a message as an engine hands it over: headers, then the
// body in 64 KiB chunks.
type benchMessage struct {
	headers [][2]string
	chunks  [][]byte
}

func newBenchMessage(size int) benchMessage {
	m := benchMessage{headers: [][2]string{
		{"Received", " from client.example.net by mx.example.org; Tue, 1 Apr 2025 10:00:00 +0000"},
		{"From", " Alice <alice@example.net>"}, {"To", " Bob <bob@example.org>"},
		{"Subject", " benchmark"}, {"Date", " Tue, 1 Apr 2025 10:00:00 +0000"},
		{"Message-ID", " <bench@example.net>"},
	}}
	body := repeatBody(size)
	for len(body) > 0 {
		n := min(64<<10, len(body))
		m.chunks = append(m.chunks, body[:n])
		body = body[n:]
	}
	return m
}

var (
	benchConn = &envelope.Conn{ClientName: "client.example.net", ClientAddr: netip.MustParseAddrPort("192.0.2.10:54321")}
	benchFrom = envelope.Address{Addr: "alice@example.net", Params: []envelope.Param{{Key: "SIZE", Value: "1024"}}}
	benchRcpt = envelope.Address{Addr: "bob@example.org"}
)

// send drives one transaction and fails on anything but continue.
func (m benchMessage) send(ctx context.Context, s filter.Session, mod *filter.Modifier) error {
	check := func(what string, v filter.Verdict) error {
		if v != filter.Continue {
			return fmt.Errorf("%s: %v (%v)", what, v, s.(*milterclient.Session).Err())
		}
		return nil
	}
	if err := check("mail", s.Mail(ctx, benchFrom)); err != nil {
		return err
	}
	if err := check("rcpt", s.Rcpt(ctx, benchRcpt)); err != nil {
		return err
	}
	if err := check("data", s.Data(ctx)); err != nil {
		return err
	}
	for _, h := range m.headers {
		if err := check("header", s.Header(ctx, h[0], h[1])); err != nil {
			return err
		}
	}
	if err := check("eoh", s.EndOfHeaders(ctx)); err != nil {
		return err
	}
	for _, c := range m.chunks {
		if err := check("body", s.Body(ctx, c)); err != nil {
			return err
		}
	}
	if err := check("eom", s.EndOfMessage(ctx, mod)); err != nil {
		return err
	}
	if len(mod.Edits()) != 1 {
		return fmt.Errorf("edits %v", mod.Edits())
	}
	return nil
}

func BenchmarkMessages(b *testing.B) {
	addr := startBenchServer(b)
	for _, mode := range []string{"reuse", "perconn"} {
		for _, conc := range []int{1, 50} {
			for _, size := range []int{1 << 10, 1 << 20} {
				name := fmt.Sprintf("%s/sessions=%d/size=%s", mode, conc, map[int]string{1 << 10: "1KiB", 1 << 20: "1MiB"}[size])
				b.Run(name, func(b *testing.B) { benchMessages(b, addr, mode == "reuse", conc, newBenchMessage(size)) })
			}
		}
	}
}

// messagesPerConn is how many messages a reused SMTP connection carries.
const messagesPerConn = 100

func benchMessages(b *testing.B, addr string, reuse bool, conc int, msg benchMessage) {
	c := newClient(b, milterclient.Options{Address: addr})
	ctx := context.Background()
	macros := filter.MacroMap{}
	macros.Set("j", "mx.example.org")
	macros.Set("i", "4Xq1")
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	worker := func() {
		var s filter.Session
		sent := 0
		defer func() {
			if s != nil {
				s.Close(ctx)
			}
		}()
		for next.Add(1) <= int64(b.N) {
			if s == nil || !reuse || sent == messagesPerConn {
				if s != nil {
					s.Close(ctx)
				}
				s, _ = c.NewSession(ctx, macros)
				s.Connect(ctx, benchConn)
				s.Helo(ctx, "client.example.net")
				sent = 0
			}
			sent++
			if err := msg.send(ctx, s, filter.NewModifier(filter.AllEdits, nil)); err != nil {
				once.Do(func() { firstErr = err })
				return
			}
		}
	}
	b.SetBytes(int64(sizeOf(msg)))
	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() { defer wg.Done(); worker() }()
	}
	wg.Wait()
	b.StopTimer()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

func sizeOf(m benchMessage) int {
	n := 0
	for _, c := range m.chunks {
		n += len(c)
	}
	return n
}
