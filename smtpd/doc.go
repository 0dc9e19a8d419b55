// Package smtpd is sluice's SMTP server: the protocol engine of the
// front-end (`sluice serve`). It owns sessions, extensions, limits and
// relay control, runs a filter.Filter at every stage, and hands accepted
// messages to a Spool, an interface it defines and the queue satisfies.
//
// # Protocol
//
// SMTP (RFC 5321) with HELO, EHLO, MAIL, RCPT, DATA, RSET, NOOP, VRFY
// (always 252), QUIT and HELP, and the extensions PIPELINING (RFC 2920),
// SIZE (RFC 1870: advertised, checked on MAIL and while reading),
// 8BITMIME (RFC 6152), SMTPUTF8 (RFC 6531), ENHANCEDSTATUSCODES (RFC 2034,
// RFC 3463: on every reply but the greetings and EHLO/HELO), CHUNKING
// (RFC 3030: BDAT), DSN (RFC 3461: RET, ENVID, NOTIFY and ORCPT checked
// and kept in envelope.Address.Params), STARTTLS (RFC 3207) and AUTH
// PLAIN and LOGIN (RFC 4954, RFC 4616; offered over TLS only). XCLIENT
// and XFORWARD (Postfix) are advertised to, and accepted from, the
// configured networks only; anyone else gets 550 5.7.0. The PROXY
// protocol is available through ProxyListener.
//
// Reply codes are named constants citing their RFC; every error reply is
// an *Error, whose enhanced code's class matches its code.
//
// # The edge is hostile
//
// Command lines are limited to 512 octets (longer for MAIL, RCPT and AUTH
// by what their extensions add), end with CRLF and carry no control
// characters. Content lines are limited (MaxLineLength), and so are the
// header section, the message, recipients, connections in all and per
// address, error replies per session (then 421), and the time of every
// stage and of the whole session. HTTP requests get 502 and a close.
//
// Only CRLF "." CRLF ends DATA (readDot). A bare CR or LF in content,
// from DATA or BDAT, refuses the message (BareLFReject, 550 5.6.0) or
// becomes CRLF (BareLFNormalize), so the bytes written to the spool never
// hold one and no second message can be smuggled downstream. Header
// values a filter writes are made safe the same way. Plaintext pipelined
// after STARTTLS is dropped (CVE-2011-0411).
//
// # Relay control
//
// A recipient is accepted for RelayDomains from anyone (without '%', '!'
// or '@' routing in its local part), and for any domain only from
// TrustedNetworks or an authenticated client; otherwise 554 5.7.1 Relay
// access denied.
//
// With a RecipientVerifier, a recipient of a RelayDomains domain that
// passed relay control is then checked with the downstream before the
// filters see it: a 5xx there gives 550 with the downstream's text, no
// answer gives 450 4.1.1 (or acceptance, VerifyOnError). Recipients of
// other domains are not verified.
//
// # Filters
//
// The filter session opens with the connection and sees every stage:
// connect, HELO, MAIL, RCPT (per recipient; refused recipients too when
// the filter asks), DATA, each header field, end of headers, body chunks,
// end of message, abort, unknown commands, close. A refusal is the reply
// to the command of its stage; a 421 reply closes the connection. Header
// and body stream to the filter and to the spool in one pass. End of
// message edits are applied to the message stored: header edits with
// filter.ApplyHeaderEdit, recipients, sender, quarantine; a replaced body
// goes to a new Draft, so the queue ID changes. Filters get the Sendmail
// macros Postfix sends (j, _, {daemon_name}, {daemon_addr}, v,
// {client_addr}, {client_port}, {client_name}, {client_ptr},
// {tls_version}, {cipher}, {cipher_bits}, {auth_type}, {auth_authen},
// {auth_author}, i, {mail_addr}, {mail_host}, {mail_mailer},
// {rcpt_addr}, {rcpt_host}, {rcpt_mailer}); i is the queue ID from MAIL
// on. Only the macros the filter's Needs.Macros lists are computed (all
// when it is nil, none without a filter). Recipients added by filters are
// bounded by MaxRecipients: beyond, the message is refused with 451 4.5.3.
// A MAIL AUTH= parameter (RFC 4954 §5) is kept only for an authenticated
// client (its own AUTH, or XCLIENT LOGIN), else it becomes AUTH=<>. STARTTLS keeps the filter session (it sees a second HELO); XCLIENT
// closes it and opens a new one for the new client.
//
// # Accepting a message
//
// The Draft is created at MAIL; the body is written to it as it arrives,
// and at the end the final header section (a Received field with the TLS
// details and the queue ID first) goes with the envelope to Draft.Commit,
// which returns once the message is durable. Only then does the client
// get 250 2.0.0 naming the queue ID. A spool that cannot store the
// message answers ErrSpoolTemporary: 452 4.3.1, and the client keeps it.
//
// # Reloading
//
// Server.Reload checks new Options and makes them the ones new sessions
// start with: relay control, limits, timeouts, host name, TLS, AUTH,
// resolver and filter. A session keeps the options it started with until
// it ends, so nothing changes under a transaction; Reload's channel tells
// when the last such session has ended and what only the old options used
// (a filter chain) may be released. Listeners, the Spool and the Logger
// stay.
//
// # Not here
//
// smtpd does not know the queue, configuration files or signals:
// cmd/sluice wires a Server from the configuration, adapts the queue to
// Spool, builds new Options from the reloaded configuration on SIGHUP
// (Server.Reload), and calls Shutdown on SIGTERM. It does not
// deliver mail, verify client certificates, or implement BINARYMIME,
// ETRN or VRFY lookups.
//
// Options.Observer, when set, hears of connections (opened, refused,
// closed), refused recipients and each message's outcome, for metrics;
// the package itself exports none.
package smtpd
