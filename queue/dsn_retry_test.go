package queue

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/envelope"
)

// lmtpFinal is an LMTP server's acceptance without DSN: a remote reply,
// yet a final delivery.
var lmtpFinal = envelope.RcptResult{Status: envelope.Delivered, Code: 250, Enhanced: "2.1.5", Text: "ok",
	Remote: "lmtp.test", Handoff: envelope.HandoffFinal}

// failDSNOnce fails the first log append after the original was handed
// to the deliverer: the success DSN's commit (the original is already in
// the log, and its record moves out of the log only after the DSN).
type failDSNOnce struct {
	mu        sync.Mutex
	delivered bool
	failed    bool
}

func (f *failDSNOnce) deliver() {
	f.mu.Lock()
	f.delivered = true
	f.mu.Unlock()
}

func (f *failDSNOnce) hook(op string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.delivered && !f.failed && strings.HasPrefix(op, "write log/") {
		f.failed = true
		return errInjected
	}
	return nil
}

func (f *failDSNOnce) done() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failed
}

// successActions returns "rcpt action" for each recipient block of the
// one DSN f delivered.
func successActions(t *testing.T, f *fakeDeliverer) string {
	t.Helper()
	dsns := f.callsFrom("")
	if len(dsns) != 1 {
		t.Fatalf("%d DSNs, want 1", len(dsns))
	}
	var got []string
	for _, r := range parseDSN(t, dsns[0].content).rcpts {
		got = append(got, r["Final-Recipient"]+" "+r["Action"])
	}
	return strings.Join(got, ", ")
}

// TestDSNSuccessRetried: when the success DSN cannot be queued, the
// delivered recipients stay un-notified with their handoff in the record,
// and the retry, in the same process or after a restart, reports what
// the deliverer said: "delivered" for an LMTP final delivery although a
// remote host answered, "relayed" for a relay. The message is delivered
// once and one DSN goes out.
func TestDSNSuccessRetried(t *testing.T) {
	for _, restart := range []bool{false, true} {
		name := map[bool]string{false: "same process", true: "after restart"}[restart]
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			hook := &failDSNOnce{}
			fsys := &recFS{root: dir, fail: hook.hook}
			opts := Options{Dir: dir, FS: fsys, Retry: []time.Duration{20 * time.Millisecond}, Jitter: -1}
			if restart {
				opts.Retry = []time.Duration{time.Hour} // no retry before the restart
			}
			rec := testRecord("lmtp@example.org", "relay@example.org")
			rec.Rcpts[0].Params = notify("SUCCESS")
			rec.Rcpts[1].Params = notify("SUCCESS")
			f := &fakeDeliverer{answer: func(_ int, rcpt string) envelope.RcptResult {
				switch rcpt {
				case "lmtp@example.org":
					hook.deliver()
					return lmtpFinal
				case "relay@example.org":
					return delivered(envelope.HandoffRelayed)
				}
				return delivered(envelope.HandoffUnknown) // the DSN
			}}
			q := openTest(t, opts)
			id := put(t, q, rec, "x\r\n")
			if restart {
				q = restartAfterFailure(t, q, f, hook, opts, id)
			} else {
				runQueue(t, q, f, RunOptions{})
			}
			waitFor(t, "the DSN", func() bool { return empty(q) && len(f.callsFrom("")) == 1 })
			time.Sleep(50 * time.Millisecond) // room for a wrong second DSN
			if !hook.done() || fsys.count("write log/") == 0 {
				t.Fatalf("the DSN's log append did not fail: %v", fsys.calls())
			}
			if n := len(f.callsFrom("a@example.org")); n != 1 {
				t.Errorf("the message was delivered %d times, want 1", n)
			}
			want := "rfc822; lmtp@example.org delivered, rfc822; relay@example.org relayed"
			if got := successActions(t, f); got != want {
				t.Errorf("DSN reports %q, want %q", got, want)
			}
		})
	}
}

// restartAfterFailure runs q until the DSN's commit has failed, stops it,
// checks the record kept on disk, and reopens the queue an hour and more
// later (when the retry is due) with f running on it.
func restartAfterFailure(t *testing.T, q *Queue, f *fakeDeliverer, hook *failDSNOnce, opts Options, id string) *Queue {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx, f, RunOptions{Hostname: "mx.sluice.test"}) }()
	waitFor(t, "the failed DSN", hook.done)
	cancel()
	if err := <-done; err != nil { // Run waits for the settle in progress
		t.Fatalf("Run: %v", err)
	}
	q.Close()
	opts.Clock = func() time.Time { return time.Now().Add(2 * time.Hour) }
	q2 := openTest(t, opts)
	got, err := q2.Show(id)
	if err != nil {
		t.Fatal(err)
	}
	for i, h := range []envelope.Handoff{envelope.HandoffFinal, envelope.HandoffRelayed} {
		if rc := got.Rcpts[i]; rc.State != Delivered || rc.Notified || rc.Handoff != h {
			t.Errorf("recipient %s after the failed DSN: %v, notified %v, handoff %v; want delivered, false, %v",
				rc.Addr, rc.State, rc.Notified, rc.Handoff, h)
		}
	}
	if len(f.callsFrom("")) != 0 {
		t.Fatal("a DSN went out before the restart")
	}
	runQueue(t, q2, f, RunOptions{})
	return q2
}

// TestDSNSuccessFromRecord: a delivered recipient still owed its success
// DSN is reported from the handoff in its record. A record written before
// handoffs were kept (none, even for a local delivery) reports
// "relayed".
func TestDSNSuccessFromRecord(t *testing.T) {
	local := Reply{Enhanced: "2.0.0", Text: "delivered to maildir", At: time.Now()}
	remote := Reply{Code: 250, Enhanced: "2.0.0", Text: "ok", Remote: "mx.test", At: time.Now()}
	tests := []struct {
		name    string
		h       envelope.Handoff
		reply   Reply
		want    string // the Action, "" for no DSN
		wantMTA string
	}{
		{"final, local", envelope.HandoffFinal, local, "delivered", ""},
		{"final, remote", envelope.HandoffFinal, remote, "delivered", "dns; mx.test"},
		{"relayed", envelope.HandoffRelayed, remote, "relayed", "dns; mx.test"},
		{"old record, local", envelope.HandoffUnknown, local, "relayed", ""},
		{"old record, remote", envelope.HandoffUnknown, remote, "relayed", "dns; mx.test"},
		{"passed on", envelope.HandoffPassedOn, remote, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := testRecord("b@example.org")
			rec.Rcpts[0].Params = notify("SUCCESS")
			rec.Rcpts[0].State, rec.Rcpts[0].Handoff, rec.Rcpts[0].Reply = Delivered, tt.h, tt.reply
			rec.Attempts = 1
			q := openTest(t, fastOptions())
			f := &fakeDeliverer{}
			put(t, q, rec, "x\r\n")
			runQueue(t, q, f, RunOptions{})
			waitFor(t, "the queue to empty", func() bool { return empty(q) && (tt.want == "" || len(f.snapshot()) > 0) })
			time.Sleep(50 * time.Millisecond) // room for a wrong DSN
			calls := f.snapshot()
			if tt.want == "" {
				if len(calls) != 0 {
					t.Errorf("%d deliveries, want none", len(calls))
				}
				return
			}
			if len(calls) != 1 || calls[0].d.From.Addr != "" {
				t.Fatalf("%d deliveries, want the DSN only", len(calls))
			}
			fields := parseDSN(t, calls[0].content).rcpts[0]
			if fields["Action"] != tt.want || fields["Remote-MTA"] != tt.wantMTA {
				t.Errorf("fields %v, want Action %q, Remote-MTA %q", fields, tt.want, tt.wantMTA)
			}
		})
	}
}
