// Package filter is the one interface every check in sluice implements,
// whether it runs inside the SMTP front-end, behind Postfix through the
// milter server, or is an external milter reached through the milter client.
//
// A Filter declares what it needs (Needs) and opens a Session per SMTP
// connection. The session has a method per SMTP stage (connect, HELO, MAIL,
// RCPT, DATA, each header, end of headers, body chunks, end of message,
// abort, close, unknown command); each returns a Verdict. Only EndOfMessage
// receives a *Modifier, so an edit of headers, recipients, sender or body
// outside end of message cannot be written: the milter protocol forbids it
// and the type system says so.
//
// Connection and transaction facts reach a filter as the Sendmail macro set
// Postfix sends (Macros): j, _, {daemon_name}, {client_addr}, i, {mail_addr},
// {rcpt_addr}, and so on, so a built-in filter, an external milter and a
// filter behind Postfix see the same facts.
//
// Chain runs several filters as one: in order, stopping at the first terminal
// verdict, with each filter skipped for the rest of a message (or
// connection) once it has accepted. Its Needs merges the members' (macros:
// the union per stage, or nil, any macro, when a member's is nil), and
// Close closes the members that implement io.Closer.
//
// Networks (NewNetworks, Loopback) is the client-network list filters
// skip or trust, shared so that every filter reads it the same way.
//
// The package knows nothing of the wire: the milter codec lives in package
// milter, and the two meet in miltersrv and milterclient.
package filter
