package queuebench

import (
	"fmt"
	"os"
	"strconv"
	"testing"
)

// messagesEnv overrides how many messages one run delivers.
const messagesEnv = "SLUICE_BENCH_RUNNER_MESSAGES"

// benchSizes are the content sizes (header section included) and the
// messages per run for each.
var benchSizes = []struct {
	name     string
	size     int
	messages int
}{
	{"1KiB", 1 << 10, 3000},
	{"100KiB", 100 << 10, 1000},
}

// BenchmarkRunnerToSink measures the queue runner emptying a pre-filled
// spool into smtp-sink through smtpclient: wall time from the start of
// Run until every message was accepted by the sink and removed from the
// spool. One op is one such run; it reports msgs/s, SMTP connections
// opened per run (conns/op), messages per connection, and the spool's
// fsync calls per message during the run (removals share directory
// fsyncs). Variants: the runner's concurrency (the client may open as
// many connections), and connection reuse on (the client's default, at
// most 100 messages per connection) or off (one message per connection).
// smtp-sink offers PIPELINING, so MAIL, RCPT and DATA go in one write.
func BenchmarkRunnerToSink(b *testing.B) {
	sink := startSink(b)
	for _, s := range benchSizes {
		n := messagesPerRun(b, s.messages)
		for _, conc := range []int{1, 10, 50} {
			for _, reuse := range []bool{true, false} {
				name := fmt.Sprintf("size=%s/conc=%d/reuse=%s", s.name, conc, onOff(reuse))
				b.Run(name, func(b *testing.B) {
					benchRunner(b, sink, runConfig{messages: n, size: s.size, concurrency: conc, reuse: reuse})
				})
			}
		}
	}
}

func benchRunner(b *testing.B, sink *countingSink, cfg runConfig) {
	b.SetBytes(int64(cfg.messages) * int64(cfg.size))
	b.StopTimer()
	var total runResult
	for range b.N {
		r := prepareRun(b, sink, cfg)
		b.StartTimer()
		res := r.run(b)
		b.StopTimer()
		r.close(b)
		total.elapsed += res.elapsed
		total.conns += res.conns
		total.syncs += res.syncs
	}
	msgs := float64(b.N * cfg.messages)
	b.ReportMetric(msgs/total.elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(total.conns)/float64(b.N), "conns/op")
	b.ReportMetric(msgs/float64(total.conns), "msgs/conn")
	b.ReportMetric(float64(total.syncs)/msgs, "fsyncs/msg")
}

// messagesPerRun is def, or the count in $SLUICE_BENCH_RUNNER_MESSAGES.
func messagesPerRun(b *testing.B, def int) int {
	s := os.Getenv(messagesEnv)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		b.Fatalf("%s=%q: want a positive number", messagesEnv, s)
	}
	return n
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
