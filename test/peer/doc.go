// Package peer runs real mail programs as peers for end-to-end tests: a
// private Postfix instance, an smtp-sink(1) that dumps what it receives, and
// swaks as a scripted SMTP client.
//
// Everything is scoped to one test. A Postfix instance lives in its own
// directory (configuration, queue, data and log) under the test's temporary
// directory, listens on a loopback port, runs without chroot and is stopped
// when the test ends; it never reads or changes the system instance in
// /etc/postfix. Several instances can run at once, for example one with
// smtpd_milters in front and one as the downstream. A sink is an smtp-sink
// process on a loopback port whose dump files are parsed into [Message]
// values (envelope and content).
//
// The helpers skip the test when a program is missing ([Need]) and fail it,
// with the peer's log, when a peer does not come up within a bounded wait.
// Running Postfix needs root (as in CI): the master process starts as root
// and its daemons run as the postfix user.
//
// Unix sockets that Postfix connects to (a milter, say) must be reachable by
// the postfix user: make them with [SocketPath] and open them up with
// [AllowPostfix] after listening.
//
// The package imports nothing of sluice. It does not implement SMTP itself
// and does not talk to anything beyond loopback. smtp-sink drops every CR it
// receives, so [Message.Data] is exact only for content with CRLF line ends;
// see [Message].
package peer
