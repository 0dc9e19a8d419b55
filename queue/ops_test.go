package queue

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/envelope"
)

// opsFixture runs a queue whose deliverer defers every recipient on the
// first attempt of a message (retry after an hour) and delivers after.
type opsFixture struct {
	q *Queue
	f *fakeDeliverer
}

func newOpsFixture(t *testing.T) *opsFixture {
	q := openTest(t, Options{Retry: []time.Duration{time.Hour}, Jitter: -1})
	f := &fakeDeliverer{answer: func(n int, _ string) envelope.RcptResult {
		if n == 1 {
			return deferred("later")
		}
		return envelope.RcptResult{Status: envelope.Delivered, Code: 250}
	}}
	runQueue(t, q, f, RunOptions{ControlInterval: 10 * time.Millisecond})
	return &opsFixture{q: q, f: f}
}

func (fx *opsFixture) attempts(id string) int {
	fx.f.mu.Lock()
	defer fx.f.mu.Unlock()
	return fx.f.perMsg[id]
}

// deferredOnce puts a message and waits for its first (deferred) attempt
// to be recorded.
func (fx *opsFixture) deferredOnce(t *testing.T) string {
	t.Helper()
	id := put(t, fx.q, testRecord("b@example.org"), "ops\r\n")
	waitFor(t, "the first attempt to be settled", func() bool {
		r, err := fx.q.Show(id)
		fx.q.mu.Lock()
		defer fx.q.mu.Unlock()
		e := fx.q.entries[id]
		return err == nil && r.Attempts == 1 && e != nil && !e.busy
	})
	return id
}

// opsAPI is the operations both an owner and a control client offer.
type opsAPI interface {
	Hold(ctx context.Context, id, reason string) error
	Release(ctx context.Context, id string) error
	Delete(ctx context.Context, id string) error
	Flush(ctx context.Context) (int, error)
}

// testOps runs the operations scenario through api against a running
// fixture.
func testOps(t *testing.T, fx *opsFixture, api opsAPI) {
	ctx := context.Background()
	q := fx.q

	// Flush brings a deferred message forward.
	id := fx.deferredOnce(t)
	if n, err := api.Flush(ctx); err != nil || n != 1 {
		t.Fatalf("Flush: %d, %v; want 1 message", n, err)
	}
	waitFor(t, "delivery after flush", func() bool { return !fileExists(q.recPath(id)) })

	// A held message is not delivered, not even by Flush; Release is.
	id = fx.deferredOnce(t)
	if err := api.Hold(ctx, id, "looks odd"); err != nil {
		t.Fatal(err)
	}
	r, _ := q.Show(id)
	if !r.Held || r.HoldReason != "looks odd" || r.State() != "held" {
		t.Errorf("after Hold: held=%v reason=%q", r.Held, r.HoldReason)
	}
	if n, err := api.Flush(ctx); err != nil || n != 0 {
		t.Errorf("Flush with only a held message: %d, %v", n, err)
	}
	time.Sleep(100 * time.Millisecond)
	if n := fx.attempts(id); n != 1 {
		t.Fatalf("held message attempted %d times", n)
	}
	if err := api.Release(ctx, id); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "delivery after release", func() bool { return !fileExists(q.recPath(id)) })

	// Delete removes a deferred message for good.
	id = fx.deferredOnce(t)
	if err := api.Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	if fileExists(q.recPath(id)) || fileExists(q.msgPath(id)) {
		t.Error("files left after Delete")
	}
	if _, err := api.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if n := fx.attempts(id); n != 1 {
		t.Errorf("deleted message attempted %d times", n)
	}

	// Unknown IDs.
	for name, err := range map[string]error{
		"hold":    api.Hold(ctx, "0630000000000009", ""),
		"release": api.Release(ctx, "0630000000000009"),
		"delete":  api.Delete(ctx, "0630000000000009"),
		"bad id":  api.Delete(ctx, "../lock"),
	} {
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("%s of an unknown message: %v, want ErrNotFound", name, err)
		}
	}
}

func TestOpsWhileRunning(t *testing.T) {
	fx := newOpsFixture(t)
	testOps(t, fx, fx.q)
}

// TestOpsFromAnotherProcess: the same operations through OpenControl
// while the owner runs: they travel through ctl/ and the runner applies
// them.
func TestOpsFromAnotherProcess(t *testing.T) {
	fx := newOpsFixture(t)
	c, err := OpenControl(Options{Dir: fx.q.Dir(), ControlTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Owner() {
		t.Fatal("OpenControl took ownership of a queue that is owned")
	}
	if _, err := c.Put(context.Background(), testRecord("b@example.org"), nil, strings.NewReader("")); !errors.Is(err, ErrNotOwner) {
		t.Errorf("Put through a control client: %v", err)
	}
	testOps(t, fx, c)
	if names := dirNames(t, c.ctldir); len(names) != 0 {
		t.Errorf("ctl/ holds %v after the requests", names)
	}
}

// TestOpsDeleteInFlight: deleting a message while it is delivered drops
// the delivery's outcome instead of recreating the message.
func TestOpsDeleteInFlight(t *testing.T) {
	q := openTest(t, Options{Retry: []time.Duration{time.Hour}, Jitter: -1})
	f := &fakeDeliverer{hold: make(chan struct{}), answer: func(int, string) envelope.RcptResult { return failed("no") }}
	runQueue(t, q, f, RunOptions{})
	id := put(t, q, testRecord("b@example.org"), "x\r\n")
	waitFor(t, "the delivery to start", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.inflight == 1
	})
	if err := q.Delete(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	f.hold <- struct{}{}
	time.Sleep(100 * time.Millisecond)
	if !empty(q) {
		t.Errorf("queue after deleting an in-flight message: %v", dirNames(t, q.qdir))
	}
	if n := len(f.callsFrom("")); n != 0 {
		t.Errorf("%d bounces for a deleted message", n)
	}
}

// TestControlNoRunner: a control request to an owner that runs no runner
// times out and is withdrawn; with no owner at all, OpenControl owns the
// queue and applies operations itself, durably.
func TestControlNoRunner(t *testing.T) {
	dir := t.TempDir()
	owner := openTest(t, Options{Dir: dir})
	id := put(t, owner, testRecord("b@example.org"), "x\r\n")
	c, err := OpenControl(Options{Dir: dir, ControlTimeout: 150 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Hold(context.Background(), id, "")
	if err == nil || !strings.Contains(err.Error(), "did not take the request within 150ms; nothing was done") {
		t.Errorf("Hold without a runner: %v", err)
	}
	if names := dirNames(t, c.ctldir); len(names) != 0 {
		t.Errorf("ctl/ holds %v after a withdrawn request", names)
	}
	c.Close()
	owner.Close()

	c, err = OpenControl(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if !c.Owner() {
		t.Fatal("OpenControl of an unowned queue is not the owner")
	}
	if err := c.Hold(context.Background(), id, "by hand"); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Flush(context.Background()); err != nil || n != 0 {
		t.Errorf("Flush: %d, %v", n, err)
	}
	c.Close()
	q := openTest(t, Options{Dir: dir})
	r, err := q.Show(id)
	if err != nil || !r.Held || r.HoldReason != "by hand" {
		t.Errorf("after reopening: %+v, %v", r, err)
	}
}

// TestFlushWithoutRunner rewrites the records so the next runner starts
// with the messages due.
func TestFlushWithoutRunner(t *testing.T) {
	dir := t.TempDir()
	q := openTest(t, Options{Dir: dir})
	rec := testRecord("b@example.org")
	rec.NextAttempt = time.Now().Add(time.Hour)
	id := put(t, q, rec, "x\r\n")
	if n, err := q.Flush(context.Background()); err != nil || n != 1 {
		t.Fatalf("Flush: %d, %v", n, err)
	}
	r, _ := q.Show(id)
	if r.NextAttempt.After(time.Now()) {
		t.Errorf("next attempt %v after Flush without a runner", r.NextAttempt)
	}
}
