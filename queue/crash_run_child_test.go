package queue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/envelope"
)

// The child of TestCrashRunner prints one line per event, each with one
// write to its unbuffered standard output:
//
//	R          the queue is open (the parent's kill timer starts)
//	P ID N     Put of message number N returned ID
//	D ID       the deliverer is about to accept ID
//	E ID err   the deliverer could not read ID (it defers it)
//	H ID       Hold returned     U ID   Release returned
//	x ID       Delete is called  X ID   Delete returned
const (
	runCrashDirEnv      = "SLUICE_QUEUE_RUNCRASH_DIR"
	runCrashBaseEnv     = "SLUICE_QUEUE_RUNCRASH_BASE"
	runCrashPutters     = 4    // goroutines calling Put
	runCrashMaxPuts     = 1500 // messages one child may put
	runCrashOps         = 3000 // hold/release/delete operations one child may make
	runCrashConcurrency = 6    // RunOptions.Concurrency
	runCrashDeferEvery  = 5    // every 5th delivery attempt is deferred
)

// runCrashOptions are the queue options of the test's child and parent:
// small segments so that the log rotates and reclaims often, and quick
// retries so that deferred messages come back while the child lives.
func runCrashOptions(dir string, logs *logBuffer) Options {
	o := Options{Dir: dir, SegmentSize: 32 << 10, Retry: []time.Duration{30 * time.Millisecond}, Jitter: -1}
	if logs != nil {
		o.Logger = logs.logger()
	}
	return o
}

// runCrashMessage is message n of TestCrashRunner: mostly under 4 KiB
// (logged), one in eight 150 to 300 KiB (a file of its own).
func runCrashMessage(n int) (header, body string) {
	r := rand.New(rand.NewPCG(uint64(n), 11))
	size := r.IntN(4 << 10)
	if r.IntN(8) == 0 {
		size = 150<<10 + r.IntN(150<<10)
	}
	var b strings.Builder
	for b.Len() < size {
		fmt.Fprintf(&b, "%d line %x\r\n", n, r.Uint64())
	}
	return fmt.Sprintf("From: run-%d@crash.test\r\nX-Seq: %d\r\n\r\n", n, n), b.String()
}

// runCrashSeq returns the message number of a sender run-N@crash.test.
func runCrashSeq(sender string) (int, bool) {
	s, ok := strings.CutPrefix(sender, "run-")
	if !ok {
		return 0, false
	}
	s, ok = strings.CutSuffix(s, "@crash.test")
	n, err := strconv.Atoi(s)
	return n, ok && err == nil
}

// runChild is the state of the child process; it is also its Deliverer.
type runChild struct {
	q     *Queue
	base  int
	calls atomic.Int64
	next  atomic.Int64
	out   sync.Mutex

	mu   sync.Mutex
	pool []string // acknowledged IDs, for holds and deletes (mu)
}

func (c *runChild) say(format string, args ...any) {
	c.out.Lock()
	defer c.out.Unlock()
	fmt.Fprintf(os.Stdout, format+"\n", args...) // one write: atomic on a pipe
}

func (c *runChild) die(code int, format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(code)
}

// Deliver reads the message, checks its bytes, and accepts it, except
// every runCrashDeferEvery-th attempt, which it defers.
func (c *runChild) Deliver(ctx context.Context, m *envelope.Delivery) []envelope.RcptResult {
	time.Sleep(time.Duration(rand.IntN(10)) * time.Millisecond) // a remote server's pace
	res := envelope.RcptResult{Status: envelope.Delivered, Code: 250, Enhanced: "2.0.0", Text: "ok", Remote: "mx.crash.test"}
	got, err := readDelivery(ctx, m)
	n, ok := runCrashSeq(m.From.Addr)
	switch {
	case err != nil:
		c.say("E %s %v", m.QueueID, err)
		res = deferred("cannot read the message")
	case !ok:
		c.die(5, "delivery of %s from %q", m.QueueID, m.From.Addr)
	case got != joinMessage(runCrashMessage(n)) || int64(len(got)) != m.Size:
		c.die(5, "delivery of %s (#%d): %d bytes (size %d), want exactly the %d put",
			m.QueueID, n, len(got), m.Size, len(joinMessage(runCrashMessage(n))))
	case c.calls.Add(1)%runCrashDeferEvery == 0:
		res = deferred("crash test deferral")
	default:
		c.say("D %s", m.QueueID)
	}
	out := make([]envelope.RcptResult, len(m.To))
	for i, a := range m.To {
		out[i] = res
		out[i].Rcpt = a.Addr
	}
	return out
}

func readDelivery(ctx context.Context, m *envelope.Delivery) (string, error) {
	rc, err := m.Open(ctx)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	return string(b), err
}

func joinMessage(header, body string) string { return header + body }

// putLoop puts messages until the child has put runCrashMaxPuts.
func (c *runChild) putLoop(ctx context.Context) {
	for {
		n := c.base + int(c.next.Add(1))
		if n >= c.base+runCrashMaxPuts {
			return
		}
		header, body := runCrashMessage(n)
		rec := Record{From: envelope.Address{Addr: fmt.Sprintf("run-%d@crash.test", n)},
			Rcpts: []Rcpt{{Address: envelope.Address{Addr: "rcpt@crash.test"}}}}
		var src io.Reader = strings.NewReader(body)
		if n%2 == 0 && len(body) > 64<<10 {
			src = &slowReader{body}
		}
		id, err := c.q.Put(ctx, rec, []byte(header), src)
		if err != nil {
			c.die(4, "put #%d: %v", n, err)
		}
		c.say("P %s %d", id, n)
		c.mu.Lock()
		c.pool = append(c.pool, id)
		c.mu.Unlock()
	}
}

// pick returns an acknowledged ID, mostly a recent one (still queued).
func (c *runChild) pick(rnd *rand.Rand) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.pool) == 0 {
		return ""
	}
	if rnd.IntN(4) == 0 {
		return c.pool[rnd.IntN(len(c.pool))]
	}
	return c.pool[len(c.pool)-1-rnd.IntN(min(len(c.pool), 32))]
}

// opLoop holds, releases and deletes acknowledged messages.
func (c *runChild) opLoop(ctx context.Context) {
	rnd := rand.New(rand.NewPCG(uint64(c.base), 3))
	var held []string
	for i := range runCrashOps {
		time.Sleep(time.Millisecond)
		id := c.pick(rnd)
		if id == "" {
			continue
		}
		switch {
		case i%4 == 3:
			c.say("x %s", id)
			c.check(id, "delete", c.q.Delete(ctx, id), "X")
		case len(held) > 0 && rnd.IntN(2) == 0:
			k := rnd.IntN(len(held))
			id = held[k]
			held = append(held[:k], held[k+1:]...)
			c.check(id, "release", c.q.Release(ctx, id), "U")
		default:
			if c.check(id, "hold", c.q.Hold(ctx, id, "crash test"), "H") {
				held = append(held, id)
			}
		}
	}
}

// check prints "tag ID" after a successful operation, ignores a message
// already gone, and ends the child on any other error.
func (c *runChild) check(id, op string, err error, tag string) bool {
	switch {
	case err == nil:
		c.say("%s %s", tag, id)
		return true
	case errors.Is(err, ErrNotFound):
		return false
	}
	c.die(6, "%s %s: %v", op, id, err)
	return false
}

// releaseAll releases what earlier children left on hold, and makes
// their messages candidates for holds and deletes.
func (c *runChild) releaseAll(ctx context.Context) {
	recs, err := c.q.List()
	if err != nil {
		c.die(3, "list: %v", err)
	}
	for _, r := range recs {
		c.mu.Lock()
		c.pool = append(c.pool, r.ID)
		c.mu.Unlock()
		if r.Held {
			c.check(r.ID, "release", c.q.Release(ctx, r.ID), "U")
		}
	}
}

// TestCrashRunnerChild is the process TestCrashRunner kills: it runs the
// queue and puts, holds, releases and deletes messages all at once,
// printing what returned (see the line formats above).
func TestCrashRunnerChild(t *testing.T) {
	dir := os.Getenv(runCrashDirEnv)
	if dir == "" {
		t.Skip("helper process of TestCrashRunner")
	}
	base, _ := strconv.Atoi(os.Getenv(runCrashBaseEnv))
	q, err := Open(runCrashOptions(dir, nil))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	c := &runChild{q: q, base: base}
	c.say("R")
	ctx := context.Background()
	go func() {
		if err := q.Run(ctx, c, RunOptions{Concurrency: runCrashConcurrency, Hostname: "mx.crash.test"}); err != nil {
			c.die(7, "run: %v", err)
		}
	}()
	var wg sync.WaitGroup
	wg.Go(func() {
		c.releaseAll(ctx)
		c.opLoop(ctx)
	})
	for range runCrashPutters {
		wg.Go(func() { c.putLoop(ctx) })
	}
	wg.Wait()
	time.Sleep(30 * time.Second) // the parent kills it long before
	os.Exit(0)
}
