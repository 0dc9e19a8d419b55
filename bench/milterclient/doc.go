// Package milterclientbench holds benchmarks only: it exports nothing and
// no other package imports it.
//
// client_bench_test.go measures the milter client (package milterclient)
// driving a milter in another process over loopback TCP or a unix socket,
// the way an MTA drives it:
//
//   - BenchmarkClient: messages per second, allocations per message, and
//     CPU per message of the client (this process) and of the milter (the
//     child process), for three milters: the libmilter C milter of
//     bench/milter/addheader.c, sluice's milter server (package miltersrv)
//     serving the built-in headers filter that does the same work (adds
//     X-Filtered-By: sluice at end of message and skips every other
//     stage), and the same filter also reading the body; with 1 or 50
//     concurrent SMTP connections, 1 KiB or 1 MiB bodies, and either one
//     message per SMTP connection (as smtp-source sends by default, so as
//     Postfix then talks to the milter) or 100.
//
// The tests of the package check, without -bench, that every milter
// answers each message with exactly the one header edit, so the
// benchmarks measure what they claim.
//
// run.sh measures, in the same invocation, Postfix driving the same C
// milter (smtp-source into a private Postfix instance, helpers from
// bench/milter/lib.sh) and this client driving it, for the README's side
// by side table; see bench/README.md. The benchmarks read /proc and are
// built on Linux only.
package milterclientbench
