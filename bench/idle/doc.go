// Command idle is the milter server that BenchmarkIdleConnections (package
// bench) measures: the built-in headers filter adding one field, served by
// miltersrv on one socket, in a process of its own so that its resident
// memory is counted alone.
//
// Usage:
//
//	idle -listen unix:/path/to/socket
//	idle -listen inet:0@127.0.0.1
//
// Once it listens it prints one line, "listening ADDRESS", on stdout (the
// actual address: a port of 0 is resolved). It then reads commands from
// stdin, one per line:
//
//	stats       print one JSON object with the server's connection count
//	            and Go runtime memory figures (see stats)
//	heap PATH   collect garbage, write the heap profile to PATH (for go
//	            tool pprof), print "ok"
//
// At the end of stdin it closes the server and exits. It raises its soft
// open-file limit to the hard limit, so it can hold as many connections as
// -max-connections allows.
package main
