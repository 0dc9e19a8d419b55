// Package queuebench holds benchmarks only: it exports nothing and no
// other package imports it.
//
// BenchmarkRunnerToSink measures the delivery side of the spool: a queue
// (package queue) in a temporary directory is filled with a fixed number
// of messages (1 KiB or 100 KiB, one recipient each), then the queue
// runner empties it through an smtpclient.Client into smtp-sink(1) on
// loopback. One op is one run, timed from the start of queue.Run until
// every message was accepted by the sink and its files were removed from
// the spool (removal includes the directory fsync). It reports msgs/s,
// connections opened per run, messages per connection and the spool's
// fsync calls per message during the run, with the runner's concurrency
// at 1, 10 and 50 (the client may open as many connections) and with
// connection reuse on (the client's default: up to 100 messages per
// connection) or off (one message per connection).
// smtp-sink advertises PIPELINING, which the client uses: MAIL, RCPT and
// DATA go in one write. SLUICE_BENCH_RUNNER_MESSAGES changes the number
// of messages per run; SLUICE_BENCH_DIR, as for the queue package's
// benchmarks, puts the spools on the disk that holds that directory.
//
// smtp-sink runs without dumping messages (test/peer's sink writes every
// message to a file) and with its running counters (-c), which the
// benchmark reads to check that the sink got exactly the messages sent.
// Any delivery that is not a success fails the run at once.
//
// The tests of the package check, without -bench, that a small run
// delivers every message exactly once and empties the spool, and that
// reuse on and off open the connections they should. Both skip without
// smtp-sink (Debian package postfix).
//
// Put throughput (group commit) is measured next to the queue package, in
// queue/bench_test.go. Neither measures TLS, XCLIENT/XFORWARD, LMTP or a
// downstream slower than smtp-sink.
package queuebench
