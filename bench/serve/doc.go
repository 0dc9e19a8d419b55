// Package servebench holds benchmarks only: it exports nothing and no
// other package imports it.
//
// It measures the memory of `sluice serve` (the SMTP front-end, package
// smtpd behind cmd/sluice) from the outside: each benchmark builds
// cmd/sluice, starts `sluice serve` as a child process on a loopback port
// with a configuration written for it, relaying to a small SMTP sink in
// the benchmark process, and reads the child's /proc/PID/status.
//
//   - BenchmarkIdleConnections: VmRSS of the server holding N idle SMTP
//     connections, each past the 220 greeting (N from
//     SLUICE_BENCH_SERVE_CONNS, default "1000 5000"). It reports KiB/conn
//     = (peak VmRSS with the connections - VmRSS before) / N. The goal is
//     under 50 KiB per connection.
//   - BenchmarkMessage: one message of SLUICE_BENCH_SERVE_MSG_MIB MiB
//     (default 100) per iteration through one SMTP session (EHLO, MAIL
//     with SIZE=, RCPT, DATA), with max_message_size at twice that. It
//     reports VmHWM (the process's peak resident set) when the 250 reply
//     arrives and after the sink has the whole message, and checks every
//     delivered message: same body bytes (SHA-256), X-Filtered-By added.
//     The goal is a peak under 64 MiB for 100 MiB.
//
// The tests of the package check, without -bench and in a few seconds,
// that the child starts, greets idle connections with the exact greeting,
// and relays one 1 MiB message intact with the header added, so the
// benchmarks measure what they claim. They read /proc and are built on
// Linux only.
//
// Throughput against Postfix is measured by run.sh in this directory
// (smtp-source, a private Postfix instance and smtp-sink; see
// bench/README.md), not here.
package servebench
