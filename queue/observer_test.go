package queue

import (
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/envelope"
)

// countObserver counts the observer's calls by name.
type countObserver struct {
	mu sync.Mutex
	n  map[string]int
}

func (o *countObserver) add(k string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.n == nil {
		o.n = map[string]int{}
	}
	o.n[k]++
}

func (o *countObserver) Recipient(r RcptResult) { o.add("rcpt " + string(r)) }
func (o *countObserver) DSN(k DSNKind)          { o.add("dsn " + string(k)) }

func (o *countObserver) counts() map[string]int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return maps.Clone(o.n)
}

// TestObserver runs one message with a recipient delivered (who asked
// for a success DSN), one failing for good and one deferred once, with
// delay warnings on: the observer hears of every outcome, the three DSNs
// and their own deliveries, and nothing else.
func TestObserver(t *testing.T) {
	obs := &countObserver{}
	opts := fastOptions()
	opts.Observer = obs
	q := openTest(t, opts)
	f := &fakeDeliverer{answer: func(n int, rcpt string) envelope.RcptResult {
		switch {
		case rcpt == "nobody@example.org":
			return failed("no such user")
		case rcpt == "later@example.org" && n == 1:
			return deferred("busy")
		}
		return envelope.RcptResult{Status: envelope.Delivered, Code: 250, Handoff: envelope.HandoffFinal}
	}}
	rec := testRecord("ok@example.org", "nobody@example.org", "later@example.org")
	rec.Rcpts[0].Params = []envelope.Param{{Key: "NOTIFY", Value: "SUCCESS"}}
	put(t, q, rec, "observed\r\n")
	runQueue(t, q, f, RunOptions{DelayWarning: time.Nanosecond})
	want := map[string]int{
		"rcpt delivered": 5, // ok, later, and the three DSNs to the sender
		"rcpt deferred":  1,
		"rcpt bounced":   1,
		"dsn failed":     1,
		"dsn delayed":    1,
		"dsn delivered":  1,
	}
	waitFor(t, "every outcome", func() bool { return empty(q) && len(f.callsFrom("")) == 3 && sum(obs.counts()) >= sum(want) })
	time.Sleep(20 * time.Millisecond) // nothing more may come
	if got := obs.counts(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("observed %v, want %v", got, want)
	}
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
