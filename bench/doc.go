// Package bench holds benchmarks only: it exports nothing and no other
// package imports it.
//
// miltersrv_bench_test.go measures the milter server (package miltersrv)
// the way Postfix drives it, with the MTA side written with the codec
// (package milter) over real loopback TCP and unix sockets:
//
//   - BenchmarkMilterSession: one SMTP session per iteration (macros and
//     the events Postfix sends given the negotiated SMFIP_NO* and
//     SMFIP_NR_* bits, body chunks of at most 65535 bytes, end of
//     message, then the AddHeader and Continue replies), on one connection
//     or on a new connection per session, and with 10 or 50 connections
//     in parallel. It reports msgs/s, cpu-us/msg (the process CPU time per
//     session, both sides) and allocations.
//   - BenchmarkIdleConnections: the resident memory of a server process
//     (the program in bench/idle) holding 10,000 negotiated, idle MTA
//     connections (SLUICE_BENCH_IDLE_CONNS changes the count).
//
// The tests of the package check, without -bench, that the scripted
// sessions get exactly the replies they expect and that the idle server
// reports its connections, so the benchmarks measure what they claim.
// The benchmarks read /proc and are built on Linux only.
//
// It does not drive a real Postfix: the scripts in bench/milter do.
package bench
