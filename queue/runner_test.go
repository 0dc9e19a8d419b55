package queue

import (
	"context"
	"io"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/envelope"
)

// fakeDeliverer records each call and answers with answer(call number of
// this message, recipient); a nil answer delivers.
type fakeDeliverer struct {
	answer func(n int, rcpt string) envelope.RcptResult
	hold   chan struct{} // when set, each delivery waits for a receive (or its ctx)

	mu          sync.Mutex
	calls       []fakeCall
	perMsg      map[string]int
	inflight    int
	maxInflight int
}

type fakeCall struct {
	d       envelope.Delivery
	to      []string
	content string
	at      time.Time
}

func (f *fakeDeliverer) Deliver(ctx context.Context, m *envelope.Delivery) []envelope.RcptResult {
	f.mu.Lock()
	f.inflight++
	f.maxInflight = max(f.maxInflight, f.inflight)
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.inflight--
		f.mu.Unlock()
	}()
	var content string
	if rc, err := m.Open(ctx); err == nil {
		b, _ := io.ReadAll(rc)
		rc.Close()
		content = string(b)
	}
	if f.hold != nil {
		select {
		case <-f.hold:
		case <-ctx.Done():
		}
	}
	f.mu.Lock()
	if f.perMsg == nil {
		f.perMsg = map[string]int{}
	}
	f.perMsg[m.QueueID]++
	n := f.perMsg[m.QueueID]
	c := fakeCall{d: *m, content: content, at: time.Now()}
	for _, a := range m.To {
		c.to = append(c.to, a.Addr)
	}
	f.calls = append(f.calls, c)
	f.mu.Unlock()
	var out []envelope.RcptResult
	for _, a := range m.To {
		res := envelope.RcptResult{Rcpt: a.Addr, Status: envelope.Delivered, Code: 250, Enhanced: "2.0.0", Text: "ok", Remote: "mx.test"}
		if f.answer != nil {
			res = f.answer(n, a.Addr)
			res.Rcpt = a.Addr
		}
		out = append(out, res)
	}
	return out
}

func (f *fakeDeliverer) snapshot() []fakeCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeCall(nil), f.calls...)
}

// callsTo returns the calls whose delivery was from sender.
func (f *fakeDeliverer) callsFrom(sender string) []fakeCall {
	var out []fakeCall
	for _, c := range f.snapshot() {
		if c.d.From.Addr == sender {
			out = append(out, c)
		}
	}
	return out
}

func deferred(text string) envelope.RcptResult {
	return envelope.RcptResult{Status: envelope.Deferred, Code: 451, Enhanced: "4.4.1", Text: text, Remote: "mx.test"}
}

func failed(text string) envelope.RcptResult {
	return envelope.RcptResult{Status: envelope.Failed, Code: 550, Enhanced: "5.1.1", Text: text, Remote: "mx.test"}
}

// runQueue runs q with d until the test ends.
func runQueue(t *testing.T, q *Queue, d Deliverer, opts RunOptions) {
	t.Helper()
	if opts.Hostname == "" {
		opts.Hostname = "mx.sluice.test"
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx, d, opts) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return within 10s of cancel")
		}
	})
}

// empty reports whether the queue directory holds no message.
func empty(q *Queue) bool {
	names, _ := readDirNames(q.qdir)
	recs, err := q.List()
	return len(names) == 0 && err == nil && len(recs) == 0
}

func fastOptions() Options {
	return Options{Retry: []time.Duration{20 * time.Millisecond}, Jitter: -1}
}

func TestRunDelivers(t *testing.T) {
	q := openTest(t, fastOptions())
	f := &fakeDeliverer{}
	rec := testRecord("b@example.org", "c@example.org")
	rec.Rcpts[1].Params = []envelope.Param{{Key: "NOTIFY", Value: "NEVER"}}
	id := put(t, q, rec, "hello\r\n")
	runQueue(t, q, f, RunOptions{})
	waitFor(t, "the queue to empty", func() bool { return empty(q) })
	calls := f.snapshot()
	if len(calls) != 1 {
		t.Fatalf("%d deliveries, want 1", len(calls))
	}
	c := calls[0]
	if c.content != testHeader+"hello\r\n" {
		t.Errorf("delivered content %q", c.content)
	}
	stored, _ := decodeRecord(mustEncode(t, rec, id))
	want := envelope.Delivery{QueueID: id, From: rec.From, To: []envelope.Address{rec.Rcpts[0].Address, rec.Rcpts[1].Address},
		Client: stored.Client, Arrived: c.d.Arrived, Size: int64(len(testHeader) + 7)}
	got := c.d
	got.Open = nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("delivery:\n got %+v\nwant %+v", got, want)
	}
	if !c.d.Client.ClientAddr.IsValid() || c.d.Client.HELO != "client.example.net" || c.d.Client.Proto != "ESMTP" {
		t.Errorf("original client not carried: %+v", c.d.Client)
	}
	if _, err := q.Show(id); err == nil {
		t.Error("delivered message still listed")
	}
}

func mustEncode(t *testing.T, r Record, id string) []byte {
	t.Helper()
	r.ID = id
	b, err := encodeRecord(&r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRunRetry: a deferred recipient is retried after the schedule's wait
// and only it; the record keeps the reply in between.
func TestRunRetry(t *testing.T) {
	opts := fastOptions()
	opts.Retry = []time.Duration{150 * time.Millisecond}
	var logs logBuffer
	opts.Logger = logs.logger()
	q := openTest(t, opts)
	f := &fakeDeliverer{answer: func(n int, rcpt string) envelope.RcptResult {
		if n == 1 && rcpt == "c@example.org" {
			return deferred("try later")
		}
		return envelope.RcptResult{Status: envelope.Delivered, Code: 250, Text: "ok"}
	}}
	id := put(t, q, testRecord("b@example.org", "c@example.org"), "retry me\r\n")
	runQueue(t, q, f, RunOptions{})
	waitFor(t, "the first attempt to be recorded", func() bool {
		r, err := q.Show(id)
		return err == nil && r.Attempts == 1
	})
	r, _ := q.Show(id)
	if r.Rcpts[0].State != Delivered || r.Rcpts[1].State != Pending || r.Rcpts[1].Reply.Code != 451 ||
		r.Rcpts[1].Reply.Text != "try later" || r.Rcpts[1].Reply.Enhanced != "4.4.1" {
		t.Errorf("record after the first attempt: %+v", r.Rcpts)
	}
	if wait := r.NextAttempt.Sub(r.LastAttempt); wait != 150*time.Millisecond {
		t.Errorf("next attempt %v after the last, want 150ms", wait)
	}
	waitFor(t, "the queue to empty", func() bool { return empty(q) && strings.Contains(logs.String(), "msg=removed id="+id) })
	calls := f.snapshot()
	if len(calls) != 2 || !reflect.DeepEqual(calls[1].to, []string{"c@example.org"}) {
		t.Fatalf("calls %+v, want a second one for c@example.org only", calls)
	}
	if gap := calls[1].at.Sub(calls[0].at); gap < 150*time.Millisecond {
		t.Errorf("retried after %v, want at least 150ms", gap)
	}
	for _, want := range []string{
		"msg=deferred id=" + id + " rcpt=c@example.org remote=mx.test reply=\"451 4.4.1 try later\"",
		"msg=delivered id=" + id + " rcpt=b@example.org",
		"msg=delivered id=" + id + " rcpt=c@example.org",
		"msg=removed id=" + id + " attempts=2",
	} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
}

// TestRunBounce: a permanent failure queues one DSN to the sender and the
// original leaves the queue; the DSN itself is delivered.
func TestRunBounce(t *testing.T) {
	q := openTest(t, fastOptions())
	f := &fakeDeliverer{answer: func(n int, rcpt string) envelope.RcptResult {
		if rcpt == "nobody@example.org" {
			return failed("no such user")
		}
		return envelope.RcptResult{Status: envelope.Delivered, Code: 250}
	}}
	id := put(t, q, testRecord("b@example.org", "nobody@example.org"), "bounce me\r\n")
	runQueue(t, q, f, RunOptions{})
	waitFor(t, "the DSN's delivery and an empty queue", func() bool { return len(f.callsFrom("")) == 1 && empty(q) })
	dsn := f.callsFrom("")[0]
	if !reflect.DeepEqual(dsn.to, []string{"a@example.org"}) {
		t.Errorf("DSN to %v, want the sender", dsn.to)
	}
	rep := parseDSN(t, dsn.content)
	if rep.rcpts[0]["Final-Recipient"] != "rfc822; nobody@example.org" || rep.rcpts[0]["Status"] != "5.1.1" {
		t.Errorf("DSN recipient fields %v", rep.rcpts)
	}
	if !strings.Contains(rep.human, "<nobody@example.org>: host mx.test said: 550 5.1.1 no such user") {
		t.Errorf("DSN text:\n%s", rep.human)
	}
	if n := len(f.callsFrom("a@example.org")); n != 1 {
		t.Errorf("original delivered %d times, want 1", n)
	}
	_ = id
}

// TestRunNullSender: a failure of a message from <> is logged, not bounced.
func TestRunNullSender(t *testing.T) {
	opts := fastOptions()
	var logs logBuffer
	opts.Logger = logs.logger()
	q := openTest(t, opts)
	f := &fakeDeliverer{answer: func(int, string) envelope.RcptResult { return failed("no") }}
	rec := testRecord("b@example.org")
	rec.From = envelope.Address{}
	id := put(t, q, rec, "from nobody\r\n")
	runQueue(t, q, f, RunOptions{})
	waitFor(t, "the queue to empty", func() bool { return empty(q) })
	time.Sleep(50 * time.Millisecond)
	if n := len(f.snapshot()); n != 1 {
		t.Errorf("%d deliveries, want 1 (no bounce)", n)
	}
	if want := "msg=\"no bounce to the null sender\" id=" + id + " rcpts=1"; !strings.Contains(logs.String(), want) {
		t.Errorf("log lacks %q:\n%s", want, logs.String())
	}
}

// TestRunMaxAge: a recipient still deferred at max_age is bounced with
// status 4.4.7 and its last reply, after a last attempt at expiry.
func TestRunMaxAge(t *testing.T) {
	opts := fastOptions()
	opts.Retry = []time.Duration{40 * time.Millisecond}
	opts.MaxAge = 300 * time.Millisecond
	q := openTest(t, opts)
	f := &fakeDeliverer{answer: func(_ int, rcpt string) envelope.RcptResult {
		if rcpt == "a@example.org" { // the DSN
			return envelope.RcptResult{Status: envelope.Delivered, Code: 250}
		}
		return deferred("mailbox busy")
	}}
	start := time.Now()
	id := put(t, q, testRecord("b@example.org"), "too slow\r\n")
	runQueue(t, q, f, RunOptions{})
	waitFor(t, "the DSN", func() bool { return len(f.callsFrom("")) == 1 && empty(q) })
	orig := f.callsFrom("a@example.org")
	if len(orig) < 3 {
		t.Errorf("%d attempts in 300ms with 40ms waits", len(orig))
	}
	if last := orig[len(orig)-1].at.Sub(start); last < 300*time.Millisecond {
		t.Errorf("last attempt %v after arrival, want at max_age (300ms)", last)
	}
	rep := parseDSN(t, f.callsFrom("")[0].content)
	r := rep.rcpts[0]
	if r["Action"] != "failed" || r["Status"] != "4.4.7" || r["Diagnostic-Code"] != "smtp; 451 4.4.1 mailbox busy" {
		t.Errorf("expiry DSN fields %v", r)
	}
	if !strings.Contains(rep.human, "<b@example.org>: delivery time expired; last error: host mx.test said: 451 4.4.1 mailbox busy") {
		t.Errorf("DSN text:\n%s", rep.human)
	}
	_ = id
}

// TestRunConcurrency: no more than Concurrency deliveries at once, and
// the bound is reached.
func TestRunConcurrency(t *testing.T) {
	q := openTest(t, fastOptions())
	f := &fakeDeliverer{hold: make(chan struct{})}
	for range 12 {
		put(t, q, testRecord("b@example.org"), "x\r\n")
	}
	runQueue(t, q, f, RunOptions{Concurrency: 3})
	for remaining := 12; remaining > 0; remaining-- {
		waitFor(t, "deliveries to fill the bound", func() bool {
			f.mu.Lock()
			defer f.mu.Unlock()
			return f.inflight == min(3, remaining)
		})
		f.hold <- struct{}{}
	}
	waitFor(t, "the queue to empty", func() bool { return empty(q) })
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.maxInflight != 3 {
		t.Errorf("at most %d deliveries at once, want 3", f.maxInflight)
	}
}

// TestRunShutdown: cancelling Run cancels deliveries in progress, records
// their outcome and returns.
func TestRunShutdown(t *testing.T) {
	q := openTest(t, fastOptions())
	f := &fakeDeliverer{hold: make(chan struct{}), answer: func(int, string) envelope.RcptResult { return deferred("shutting down") }}
	id := put(t, q, testRecord("b@example.org"), "x\r\n")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx, f, RunOptions{Hostname: "mx.test"}) }()
	waitFor(t, "the delivery to start", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.inflight == 1
	})
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
	r, err := q.Show(id)
	if err != nil || r.Attempts != 1 || r.Rcpts[0].Reply.Text != "shutting down" {
		t.Errorf("record after shutdown: %+v, %v", r, err)
	}
}

// TestRunSkipsQuarantined: a message committed on hold (a filter's
// quarantine) is not delivered until released.
func TestRunSkipsQuarantined(t *testing.T) {
	q := openTest(t, fastOptions())
	f := &fakeDeliverer{}
	rec := testRecord("b@example.org")
	rec.Held, rec.HoldReason = true, "quarantined by filter"
	id := put(t, q, rec, "x\r\n")
	runQueue(t, q, f, RunOptions{})
	time.Sleep(100 * time.Millisecond)
	if n := len(f.snapshot()); n != 0 {
		t.Fatalf("quarantined message delivered %d times", n)
	}
	if err := q.Release(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "delivery after release", func() bool { return empty(q) && len(f.snapshot()) == 1 })
}
