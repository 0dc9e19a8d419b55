package queuebench

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/sluice-mta/sluice/envelope"
)

// The tests check, without -bench, that a run measures what the benchmark
// claims: every message reaches the sink exactly once, the spool is empty
// at the end, and reuse on/off changes the connections opened.

func TestRunnerToSink(t *testing.T) {
	sink := startSink(t)
	const messages, conc = 30, 5
	tests := []struct {
		reuse              bool
		minConns, maxConns int64
	}{
		{reuse: true, minConns: 1, maxConns: conc},
		{reuse: false, minConns: messages, maxConns: messages},
	}
	for _, tt := range tests {
		t.Run("reuse="+onOff(tt.reuse), func(t *testing.T) {
			cfg := runConfig{messages: messages, size: 1 << 10, concurrency: conc, reuse: tt.reuse}
			r := prepareRun(t, sink, cfg)
			res := r.run(t)
			if res.sink != messages {
				t.Errorf("sink counted %d messages, want %d", res.sink, messages)
			}
			if res.conns < tt.minConns || res.conns > tt.maxConns {
				t.Errorf("%d connections, want %d to %d", res.conns, tt.minConns, tt.maxConns)
			}
			// Each removal waits for a directory fsync, which removals
			// running at the same time share; nothing else is synced.
			if res.syncs < 1 || res.syncs > messages {
				t.Errorf("%d fsyncs, want 1 to %d", res.syncs, messages)
			}
			if res.elapsed <= 0 {
				t.Errorf("elapsed %v", res.elapsed)
			}
		})
	}
}

func TestParseCounters(t *testing.T) {
	tests := []struct {
		line string
		want counters
		ok   bool
	}{
		{"sess=0 quit=0 mesg=1", counters{0, 0, 1}, true},
		{"sess=12 quit=11 mesg=3000", counters{12, 11, 3000}, true},
		{"", counters{}, false},
		{"sess=1 quit=1", counters{}, false},
		{"quit=1 sess=1 mesg=1", counters{}, false},
		{"sess=1 quit=x mesg=1", counters{}, false},
		{"sess=1 quit=-1 mesg=1", counters{}, false},
		{"sess=1 quit=1 mesg=1 extra=2", counters{}, false},
	}
	for _, tt := range tests {
		got, ok := parseCounters(tt.line)
		if ok != tt.ok || (ok && got != tt.want) {
			t.Errorf("parseCounters(%q) = %+v, %v; want %+v, %v", tt.line, got, ok, tt.want, tt.ok)
		}
	}
}

func TestSplitCR(t *testing.T) {
	in := "sess=0 quit=0 mesg=1\rsess=1 quit=1 mesg=1\r\nwarning: x\nsess=2 quit=2 mesg=2"
	want := []string{"sess=0 quit=0 mesg=1", "sess=1 quit=1 mesg=1", "", "warning: x", "sess=2 quit=2 mesg=2"}
	var got []string
	data := []byte(in)
	for len(data) > 0 {
		adv, tok, err := splitCR(data, true)
		if err != nil || adv == 0 {
			t.Fatalf("splitCR(%q) = %d, %q, %v", data, adv, tok, err)
		}
		got = append(got, string(tok))
		data = data[adv:]
	}
	if len(got) != len(want) {
		t.Fatalf("tokens %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("token %d = %q, want %q", i, got[i], want[i])
		}
	}
}

func TestMakeBody(t *testing.T) {
	for _, n := range []int{2, 3, 80, 81, 82, 160, 161, 950, 102317} {
		b := makeBody(n)
		if len(b) != n {
			t.Errorf("makeBody(%d): %d bytes", n, len(b))
		}
		if !bytes.HasSuffix(b, []byte("\r\n")) {
			t.Errorf("makeBody(%d) does not end in CRLF", n)
		}
		lines := bytes.Split(b[:len(b)-2], []byte("\r\n"))
		for i, l := range lines {
			if len(l)+2 > 80 || bytes.ContainsAny(l, "\r\n") {
				t.Errorf("makeBody(%d): line %d holds %q", n, i, l)
			}
		}
	}
}

// stubDeliverer answers every recipient with one result.
type stubDeliverer struct{ res envelope.RcptResult }

func (s stubDeliverer) Deliver(_ context.Context, m *envelope.Delivery) []envelope.RcptResult {
	var out []envelope.RcptResult
	for _, a := range m.To {
		r := s.res
		r.Rcpt = a.Addr
		out = append(out, r)
	}
	return out
}

func TestCountingDeliverer(t *testing.T) {
	ok := envelope.RcptResult{Status: envelope.Delivered, Code: 250, Enhanced: "2.0.0", Text: "Ok"}
	deferred := envelope.RcptResult{Status: envelope.Deferred, Code: 450, Enhanced: "4.3.0", Text: "Error: command failed"}
	tests := []struct {
		name   string
		res    envelope.RcptResult
		rcpts  int
		failed string // "": none
	}{
		{"delivered", ok, 1, ""},
		{"deferred", deferred, 1, "Q1 to <r0@example.net>: deferred: 450 4.3.0 Error: command failed"},
		{"no recipients, no results", ok, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCountingDeliverer(stubDeliverer{tt.res}, 2)
			m := &envelope.Delivery{QueueID: "Q1"}
			for i := range tt.rcpts {
				m.To = append(m.To, envelope.Address{Addr: fmt.Sprintf("r%d@example.net", i)})
			}
			for i := range 2 {
				select {
				case <-c.all:
					t.Fatalf("all closed after %d deliveries", i)
				default:
				}
				c.Deliver(context.Background(), m)
			}
			select {
			case <-c.all:
			default:
				t.Fatal("all not closed after 2 deliveries")
			}
			var got string
			select {
			case got = <-c.failed:
			default:
			}
			if got != tt.failed {
				t.Errorf("failed %q, want %q", got, tt.failed)
			}
		})
	}
}
