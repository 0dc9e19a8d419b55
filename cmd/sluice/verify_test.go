package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/smtpclient"
	"github.com/sluice-mta/sluice/smtpd"
)

// fakeDownstream answers VerifyRecipient from a table (default 250) and
// counts the questions per address; release, when set, holds answers
// until it is closed.
type fakeDownstream struct {
	answers map[string]smtpclient.VerifyResult
	errs    map[string]error
	release chan struct{}
	mu      sync.Mutex
	asked   map[string]int
}

func (f *fakeDownstream) VerifyRecipient(ctx context.Context, rcpt envelope.Address) (smtpclient.VerifyResult, error) {
	f.mu.Lock()
	if f.asked == nil {
		f.asked = map[string]int{}
	}
	f.asked[rcpt.Addr]++
	f.mu.Unlock()
	if f.release != nil {
		<-f.release
	}
	if err := f.errs[rcpt.Addr]; err != nil {
		return smtpclient.VerifyResult{}, err
	}
	if r, ok := f.answers[rcpt.Addr]; ok {
		return r, nil
	}
	return smtpclient.VerifyResult{Status: smtpclient.VerifyOK, Reply: smtpclient.Reply{Code: 250, Enhanced: "2.1.5", Lines: []string{"Ok"}}}, nil
}

func (f *fakeDownstream) count(addr string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.asked[addr]
}

var discardLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// TestVerifyCacheTTLs: definite answers are remembered for their TTL,
// temporary ones not at all; the domain's case does not matter.
func TestVerifyCacheTTLs(t *testing.T) {
	down := &fakeDownstream{
		answers: map[string]smtpclient.VerifyResult{
			"unknown@example.org": {Status: smtpclient.VerifyRejected, Reply: smtpclient.Reply{Code: 550, Enhanced: "5.1.1", Lines: []string{"no such", "user"}}},
			"busy@example.org":    {Status: smtpclient.VerifyTempFail, Reply: smtpclient.Reply{Code: 451, Enhanced: "4.3.0", Lines: []string{"later"}}},
		},
		errs: map[string]error{"down@example.org": errors.New("connection refused")},
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := newVerifyCache(down, time.Hour, 10*time.Minute, time.Second, discardLog)
	c.now = func() time.Time { return now }
	ask := func(addr string) smtpd.Verification {
		return c.VerifyRecipient(context.Background(), envelope.Address{Addr: addr})
	}
	if v := ask("known@example.org"); v.Status != smtpd.VerifyOK || v.Code != 250 {
		t.Errorf("known: %+v", v)
	}
	if v := ask("unknown@example.org"); v.Status != smtpd.VerifyRejected || v.Code != 550 || v.Enhanced != "5.1.1" || v.Text != "no such user" {
		t.Errorf("unknown: %+v", v)
	}
	if v := ask("busy@example.org"); v.Status != smtpd.VerifyTempFail || v.Code != 451 || v.Err != nil {
		t.Errorf("busy: %+v", v)
	}
	if v := ask("down@example.org"); v.Status != smtpd.VerifyTempFail || v.Err == nil {
		t.Errorf("down: %+v", v)
	}
	now = now.Add(9 * time.Minute)
	for _, a := range []string{"known@EXAMPLE.org", "unknown@example.org.", "busy@example.org", "down@example.org"} {
		ask(a)
	}
	now = now.Add(2 * time.Minute) // the negative entry is 11 minutes old
	ask("known@example.org")
	ask("unknown@example.org")
	want := map[string]int{"known@example.org": 1, "unknown@example.org": 2, "busy@example.org": 2, "down@example.org": 2}
	for a, n := range want {
		if got := down.count(a); got != n {
			t.Errorf("%s asked %d times, want %d", a, got, n)
		}
	}
}

// TestVerifyCacheShared: concurrent questions about one address make one
// lookup, whose answer they all get.
func TestVerifyCacheShared(t *testing.T) {
	down := &fakeDownstream{release: make(chan struct{})}
	c := newVerifyCache(down, time.Hour, time.Minute, 10*time.Second, discardLog)
	const n = 8
	got := make(chan smtpd.Verification, n)
	for range n {
		go func() { got <- c.VerifyRecipient(context.Background(), envelope.Address{Addr: "a@example.org"}) }()
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.mu.Lock()
		waiting := len(c.flights)
		c.mu.Unlock()
		if waiting == 1 && down.count("a@example.org") == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // let the other callers join the flight
	close(down.release)
	for range n {
		if v := <-got; v.Status != smtpd.VerifyOK {
			t.Errorf("answer %+v", v)
		}
	}
	if k := down.count("a@example.org"); k != 1 {
		t.Errorf("%d lookups, want 1", k)
	}
}

// TestVerifyCacheCallerGivesUp: a caller whose context ends gets a
// temporary failure; the lookup still fills the cache.
func TestVerifyCacheCallerGivesUp(t *testing.T) {
	down := &fakeDownstream{release: make(chan struct{})}
	c := newVerifyCache(down, time.Hour, time.Minute, 10*time.Second, discardLog)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if v := c.VerifyRecipient(ctx, envelope.Address{Addr: "a@example.org"}); v.Status != smtpd.VerifyTempFail || !errors.Is(v.Err, context.DeadlineExceeded) {
		t.Errorf("gave up: %+v", v)
	}
	close(down.release)
	if v := c.VerifyRecipient(context.Background(), envelope.Address{Addr: "a@example.org"}); v.Status != smtpd.VerifyOK {
		t.Errorf("after: %+v", v)
	}
	if k := down.count("a@example.org"); k != 1 {
		t.Errorf("%d lookups, want 1", k)
	}
}

// TestVerifyCacheBounded: the cache never holds more than max entries.
func TestVerifyCacheBounded(t *testing.T) {
	c := newVerifyCache(&fakeDownstream{}, time.Hour, time.Minute, time.Second, discardLog)
	c.max = 3
	for _, a := range []string{"a@x.test", "b@x.test", "c@x.test", "d@x.test", "e@x.test"} {
		c.VerifyRecipient(context.Background(), envelope.Address{Addr: a})
		c.mu.Lock()
		n := len(c.entries)
		c.mu.Unlock()
		if n > 3 {
			t.Fatalf("%d entries after %s", n, a)
		}
	}
	c.mu.Lock()
	_, ok := c.entries["e@x.test"]
	c.mu.Unlock()
	if !ok {
		t.Error("the newest entry is missing")
	}
}

// TestApplyVerify: the options follow the configuration; a reload that
// keeps the TTLs keeps the cache.
func TestApplyVerify(t *testing.T) {
	down := &fakeDownstream{}
	off := &live{cfg: loadText(t, "")}
	applyVerify(off, nil, down, discardLog)
	if off.opts.RecipientVerifier != nil || off.ver != nil {
		t.Fatal("verification on by default")
	}
	body := "[smtp]\nverify_recipients = true\nverify_on_error = \"accept\"\nverify_timeout = \"7s\"\n[downstream]\naddress = \"smtp://127.0.0.1:25\"\n"
	on := &live{cfg: loadText(t, body)}
	applyVerify(on, nil, down, discardLog)
	if on.ver == nil || on.opts.RecipientVerifier != on.ver || on.opts.VerifyOnError != smtpd.VerifyErrorAccept ||
		on.opts.Timeouts.Verify != 7*time.Second || on.ver.posTTL != time.Hour || on.ver.negTTL != 10*time.Minute {
		t.Fatalf("options %+v, cache %+v", on.opts, on.ver)
	}
	again := &live{cfg: loadText(t, body)}
	applyVerify(again, on, down, discardLog)
	changed := &live{cfg: loadText(t, body)}
	changed.cfg.SMTP.VerifyCacheTTL = 2 * time.Hour
	applyVerify(changed, on, down, discardLog)
	if again.ver != on.ver || changed.ver == on.ver || changed.ver.posTTL != 2*time.Hour {
		t.Error("cache not kept, or kept across a TTL change")
	}
}
