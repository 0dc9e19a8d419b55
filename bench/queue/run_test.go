package queuebench

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/queue"
	"github.com/sluice-mta/sluice/smtpclient"
	"github.com/sluice-mta/sluice/tls"
)

const (
	// runTimeout bounds one run, from the start of Run until the spool is
	// empty, and the wait for Run to return.
	runTimeout = 5 * time.Minute
	// prefillWriters is how many goroutines fill the spool before a run.
	prefillWriters = 50
	// drainPoll is how often a run looks at the spool once every delivery
	// has returned (only the last removals are left by then).
	drainPoll = 200 * time.Microsecond
)

// runConfig is one variant.
type runConfig struct {
	messages    int  // in the spool when Run starts
	size        int  // content bytes per message, header section included
	concurrency int  // RunOptions.Concurrency and smtpclient MaxConnections
	reuse       bool // false: MaxMessagesPerConn = 1
}

// runResult is what one run measured.
type runResult struct {
	elapsed time.Duration // Run start until the spool is empty
	conns   int64         // connections the client opened
	syncs   int64         // fsync calls (files and directories) during the run
	sink    int           // messages the sink counted during the run
}

// spoolRun is a spool filled with cfg.messages and the client that will
// empty it into the sink.
type spoolRun struct {
	cfg    runConfig
	sink   *countingSink
	q      *queue.Queue
	client *smtpclient.Client
	dialer *countingDialer
	fs     *syncFS
	d      *countingDeliverer
	before counters // the sink's counters before the run
	syncs  int64    // fs.syncs() before the run
	once   sync.Once
}

// prepareRun opens a spool in a new temporary directory and fills it.
func prepareRun(tb testing.TB, sink *countingSink, cfg runConfig) *spoolRun {
	tb.Helper()
	fsys := &syncFS{}
	q, err := queue.Open(queue.Options{Dir: spoolDir(tb), FS: fsys})
	if err != nil {
		tb.Fatal(err)
	}
	r := &spoolRun{cfg: cfg, sink: sink, q: q, dialer: &countingDialer{}, fs: fsys}
	tb.Cleanup(func() { r.close(tb) })
	prefill(tb, q, cfg)
	perConn := 0 // the client's default
	if !cfg.reuse {
		perConn = 1
	}
	r.client, err = smtpclient.New(smtpclient.Options{
		Address:            "smtp://" + sink.addr,
		TLS:                tls.PolicyNone,
		HeloName:           "bench.test",
		MaxConnections:     cfg.concurrency,
		MaxMessagesPerConn: perConn,
		Dialer:             r.dialer,
		Logger:             slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		tb.Fatal(err)
	}
	r.d = newCountingDeliverer(r.client, cfg.messages)
	r.before = sink.counters()
	r.syncs = fsys.syncs()
	return r
}

// run starts the runner and returns when the spool is empty. It fails tb
// on the first delivery that is not a success, when the sink did not
// count exactly the messages sent, or after runTimeout.
func (r *spoolRun) run(tb testing.TB) runResult {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ran := make(chan error, 1)
	deadline := time.NewTimer(runTimeout)
	defer deadline.Stop()
	start := time.Now()
	go func() {
		ran <- r.q.Run(ctx, r.d, queue.RunOptions{Concurrency: r.cfg.concurrency, Hostname: "bench.test"})
	}()
	select {
	case <-r.d.all:
	case msg := <-r.d.failed:
		r.stopRunner(tb, cancel, ran)
		tb.Fatalf("a delivery failed: %s", msg)
	case err := <-ran:
		tb.Fatalf("Run returned early: %v", err)
	case <-deadline.C:
		r.stopRunner(tb, cancel, ran)
		tb.Fatalf("%d of %d deliveries returned after %v; %s", r.d.n.Load(), r.cfg.messages, runTimeout, r.progress())
	}
	left, err := r.waitEmpty(deadline.C)
	elapsed := time.Since(start)
	syncs := r.fs.syncs() - r.syncs
	r.stopRunner(tb, cancel, ran)
	if err != nil || left > 0 {
		tb.Fatalf("every delivery returned, but the spool still holds %d files after %v (%v); %s", left, runTimeout, err, r.progress())
	}
	want := r.before.mesg + r.cfg.messages
	got, _ := r.sink.wait(func(c counters) bool { return c.mesg >= want }, sinkStartTimeout)
	if got.mesg != want {
		tb.Fatalf("the sink counted %d messages, want %d", got.mesg-r.before.mesg, r.cfg.messages)
	}
	return runResult{elapsed: elapsed, conns: r.dialer.n.Load(), syncs: syncs, sink: got.mesg - r.before.mesg}
}

// waitEmpty polls the spool until it holds no message, or until stop
// fires; it returns how many messages are left.
func (r *spoolRun) waitEmpty(stop <-chan time.Time) (int, error) {
	for {
		n := r.q.Len()
		if n == 0 {
			return 0, nil
		}
		select {
		case <-stop:
			return n, nil
		case <-time.After(drainPoll):
		}
	}
}

// stopRunner cancels Run and waits, bounded, until it returns.
func (r *spoolRun) stopRunner(tb testing.TB, cancel context.CancelFunc, ran <-chan error) {
	cancel()
	select {
	case <-ran:
	case <-time.After(runTimeout):
		tb.Fatalf("Run did not return within %v of its cancellation", runTimeout)
	}
}

// progress describes where a run stands, for failure messages.
func (r *spoolRun) progress() string {
	return fmt.Sprintf("spool messages left %d, sink counted %d, connections %d",
		r.q.Len(), r.sink.counters().mesg-r.before.mesg, r.dialer.n.Load())
}

// close closes the client and the spool, once.
func (r *spoolRun) close(tb testing.TB) {
	r.once.Do(func() {
		if r.client != nil {
			if err := r.client.Close(); err != nil {
				tb.Errorf("smtpclient Close: %v", err)
			}
		}
		if err := r.q.Close(); err != nil {
			tb.Errorf("queue Close: %v", err)
		}
	})
}

// prefill puts cfg.messages messages into q with prefillWriters writers.
func prefill(tb testing.TB, q *queue.Queue, cfg runConfig) {
	tb.Helper()
	header := []byte("From: <a@example.org>\r\nTo: <b@example.net>\r\nSubject: runner benchmark\r\n\r\n")
	body := makeBody(cfg.size - len(header))
	rec := queue.Record{
		From:  envelope.Address{Addr: "a@example.org"},
		Rcpts: queue.Recipients([]envelope.Address{{Addr: "b@example.net"}}),
		Client: envelope.Conn{ClientName: "client.example.net", ClientAddr: netip.MustParseAddrPort("192.0.2.7:41000"),
			Family: envelope.FamilyInet, HELO: "client.example.net", Proto: "ESMTP"},
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, prefillWriters)
	for range min(prefillWriters, cfg.messages) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(cfg.messages) {
				if _, err := q.Put(context.Background(), rec, header, bytes.NewReader(body)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		tb.Fatalf("fill the spool: %v", err)
	}
}

// makeBody returns n bytes (n >= 2) of lines of at most 80 bytes, each
// ending in CRLF.
func makeBody(n int) []byte {
	b := make([]byte, 0, n)
	for left := n; left > 0; {
		line := min(80, left)
		if left-line == 1 {
			line-- // leave room for a last line of at least CRLF
		}
		b = append(b, bytes.Repeat([]byte{'x'}, line-2)...)
		b = append(b, '\r', '\n')
		left -= line
	}
	return b
}

// countingDeliverer passes deliveries to d, closes all once want of them
// returned, and reports the first result that is not a success on failed.
type countingDeliverer struct {
	d      queue.Deliverer
	want   int64
	n      atomic.Int64
	all    chan struct{}
	failed chan string
}

func newCountingDeliverer(d queue.Deliverer, want int) *countingDeliverer {
	return &countingDeliverer{d: d, want: int64(want), all: make(chan struct{}), failed: make(chan string, 1)}
}

func (c *countingDeliverer) Deliver(ctx context.Context, m *envelope.Delivery) []envelope.RcptResult {
	res := c.d.Deliver(ctx, m)
	for _, r := range res {
		if r.Status != envelope.Delivered {
			c.fail(fmt.Sprintf("%s to <%s>: %s: %d %s %s", m.QueueID, r.Rcpt, r.Status, r.Code, r.Enhanced, r.Text))
		}
	}
	if len(res) != len(m.To) {
		c.fail(fmt.Sprintf("%s: %d results for %d recipients", m.QueueID, len(res), len(m.To)))
	}
	if c.n.Add(1) == c.want {
		close(c.all)
	}
	return res
}

func (c *countingDeliverer) fail(msg string) {
	select {
	case c.failed <- msg:
	default:
	}
}

// countingDialer is a net.Dialer that counts the connections it opens.
type countingDialer struct {
	net.Dialer
	n atomic.Int64
}

func (d *countingDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d.n.Add(1)
	return d.Dialer.DialContext(ctx, network, addr)
}
