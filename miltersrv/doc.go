// Package miltersrv serves any filter.Filter to an MTA (Postfix, Sendmail)
// over the milter protocol: the filter side of the codec in package milter.
//
// A Server listens on "unix:/path", "inet:port@host" or "inet6:port@host"
// (the socket syntax Postfix and Sendmail use), runs a goroutine per MTA
// connection up to a configurable limit, and for each connection:
//
//   - negotiates protocol version 6 (down to 2) and honours what the MTA
//     offers: the actions the filter declared (SMFIF_*), the stages it does
//     not need (SMFIP_NO*), the stages it never answers (SMFIP_NR_*, no
//     reply is sent), SMFIP_SKIP, SMFIP_RCPT_REJ, SMFIP_HDR_LEADSPC and
//     the larger data sizes SMFIP_MDS_256K/1M when the packet limit allows;
//   - requests the macros the filter declared per stage (the symbol lists
//     of the negotiation reply, SMFIF_SETSYMLIST) and keeps them per stage
//     as libmilter does;
//   - drives a filter.Session through connect, HELO, MAIL, RCPT, DATA,
//     headers, body, end of message, unknown commands and abort, with
//     several messages per connection and several SMTP sessions per
//     connection (SMFIC_QUIT_NC);
//   - sends the end-of-message edits and the verdict, with SMFIR_PROGRESS
//     every ProgressInterval while a slow end of message runs;
//   - recovers a panic in the filter: that session gets the failure verdict
//     and is closed; the server goes on.
//
// Shutdown stops accepting, closes connections that sit between SMTP
// sessions, and lets those inside one finish, up to its context's deadline.
//
// SetFilter and SetOptions replace the filter and the options of a running
// server (a configuration reload): connections accepted afterwards use the
// new ones, open connections keep what they negotiated with. A replaced
// filter that implements io.Closer is closed when its last connection
// ends.
//
// Per-connection cost is kept low because Postfix opens a milter connection
// for every SMTP session: the negotiation reply is computed once per
// filter and MTA offer; a connection waiting for the MTA holds no read or
// write buffer (on unix sockets and TCP it waits for readability through
// syscall.RawConn and borrows a pooled buffer only while bytes are
// waiting; other net.Conns get a plain 4 KiB read buffer); its macros
// share one allocation; read and write deadlines are moved only when they
// would shift by more than an eighth of the timeout (at most a second).
//
// Options.Observer, when set, hears of connections and of every verdict
// sent to the MTA, for metrics.
//
// It does not implement the MTA side: see package milterclient.
package miltersrv
