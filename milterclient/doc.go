// Package milterclient is the MTA side of the milter protocol: a
// filter.Filter backed by an external milter (OpenDKIM, OpenDMARC, rspamd,
// spamass-milter, a libmilter program, a Go milter...), so a filter.Chain
// can mix built-in filters and external milters. It speaks the protocol
// through the codec in package milter, as Postfix does, and does better
// where Postfix loses information or waits needlessly.
//
// # What it does
//
//   - Connects over unix, inet and inet6 sockets (ParseAddress), one milter
//     connection per SMTP connection (Milter.NewSession), reused for every
//     transaction of it with SMFIC_ABORT between transactions, and
//     SMFIC_QUIT at Session.Close.
//   - Optionally (Options.MaxIdleConns, IdleTimeout) keeps milter
//     connections across SMTP connections: a session that ends right after
//     a message the milter answered SMFIR_CONTINUE sends SMFIC_QUIT_NC
//     (protocol version 6) and leaves its connection idle for the next
//     session, which sends its SMFIC_CONNECT and macros without dialing or
//     negotiating again (the first negotiation holds). Sessions that end in
//     any other state quit as usual: libmilter accepts SMFIC_QUIT_NC only
//     after end of message, ignores it elsewhere, and then ignores the next
//     SMFIC_CONNECT too. A milter that does not know SMFIC_QUIT_NC closes
//     the connection: an idle connection found closed is dropped; one
//     closed before it answered anything of the next session is replaced
//     by a new one, once, and what the session had sent is sent again; and
//     unless a reused connection ever answered, the milter is taken not to
//     support reuse (logged once) and no connection is kept any more.
//     Idle connections expire after IdleTimeout; Milter.Close closes them.
//   - Offers protocol version 6 with every action and protocol step
//     (Options.Version, Actions, Protocol) and accepts what the milter
//     answers down to version 2: SMFIC_DATA goes only to milters of
//     version 4 and up, SMFIC_UNKNOWN to version 3 and up.
//   - Sends per stage the macros Postfix sends by default
//     (filter.DefaultMacros), or the lists of Options.Macros, or the lists
//     the milter asked for in its negotiation reply (SMFIR_SETSYMLIST);
//     macros of a stage the milter skips are still sent, as Postfix does, so
//     the queue ID macro i reaches the milter from MAIL on.
//   - Honours SMFIP_NO* (a skipped stage answers Continue without a round
//     trip), SMFIP_NR_* (the command is sent and not waited for; several
//     go out in one write), SMFIP_SKIP and SMFIR_SKIP (no more body, or
//     whatever kind of event was skipped), SMFIP_RCPT_REJ (recipients the
//     MTA rejected, seen as macro {rcpt_mailer} = "error", go only to
//     milters that asked), SMFIP_HDR_LEADSPC, and SMFIP_MDS_256K/1M: body
//     chunks of any size are gathered into packets of the agreed size.
//   - Turns every reply into a filter.Verdict: continue, accept, reject,
//     tempfail, discard, skip, and SMFIR_REPLYCODE (also multi-line) into
//     a Verdict with the code, enhanced status code and lines, Sendmail's
//     "%%" undone. SMFIR_SHUTDOWN becomes ShutdownVerdict (421 4.7.0).
//     SMFIR_PROGRESS restarts the timer. At end of message every
//     modification becomes a filter.Modifier call: add, insert, change and
//     delete header, add recipient with and without ESMTP arguments,
//     delete recipient, change sender with its arguments, replace body
//     (streamed to memory, then to an unlinked temporary file, bounded), and
//     quarantine with its whole reason.
//
// # Failures
//
// Connect, command and end-of-message timeouts bound every wait (and the
// caller's context can cut any of them short). When a milter is down,
// times out, closes the connection, or sends anything malformed or out of
// order (an unknown or oversized packet, a modification outside end of
// message, an action it did not negotiate, a reply to a no-reply step,
// SMFIR_CONN_FAIL), the session logs it once with the milter's name and
// what happened, closes the milter connection, and applies the milter's
// default action (Action) at that stage and for the rest of the SMTP
// connection; the next session connects afresh (a connection in an
// unknown state is never kept). A circuit breaker (BreakerOptions) stops
// sessions from each waiting out the connect
// timeout while a milter is down, and recovers by itself.
//
// # Needs
//
// What a milter wants is only known once it has answered, and may change
// when it restarts, so Milter.Needs is conservative (see its doc), and
// Milter.Negotiate asks a running milter.
//
// # What it does not do
//
// It does not apply edits to a message (the engine does, from the
// Modifier), and does not serve milters to an MTA (package miltersrv).
// Neither Postfix nor Sendmail sends SMFIC_QUIT_NC, so reuse is off by
// default. The protocol is not an RFC; the references are Sendmail's
// libmilter (its engine.c state table tells where SMFIC_QUIT_NC is
// accepted) and Postfix's milter8.c.
package milterclient
