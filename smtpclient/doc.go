// Package smtpclient delivers queued messages to the downstream MTA over
// SMTP (RFC 5321) or LMTP (RFC 2033). A Client satisfies the queue
// runner's deliverer interface: Deliver takes an envelope.Delivery and
// returns one envelope.RcptResult per recipient.
//
// What it speaks:
//
//   - smtp://host:port, lmtp://host:port and lmtp+unix:/path;
//   - STARTTLS (RFC 3207) under a tls.Policy: none, opportunistic (falls
//     back to plaintext when the handshake fails), required (TLS, no
//     verification) or verify; a server that sends data along with its
//     220 to STARTTLS is dropped;
//   - AUTH PLAIN and LOGIN (RFC 4954, via go-sasl), only over TLS unless
//     Auth.AllowInsecure;
//   - XCLIENT (Postfix XCLIENT_README), when enabled and advertised, with
//     the original client of the message (NAME ADDR PORT PROTO HELO LOGIN,
//     as many as the server lists), followed by a new EHLO with the
//     client's HELO name; else XFORWARD (NAME ADDR PORT PROTO HELO IDENT
//     SOURCE) before each MAIL. Messages without an original client (those
//     sluice makes itself) are sent with neither, on a connection that
//     does not carry another client's identity;
//   - PIPELINING (RFC 2920): XFORWARD, MAIL, every RCPT and DATA in one
//     write (in groups of at most 100 commands, so a long recipient list
//     cannot fill both sides' buffers);
//   - SIZE (RFC 1870): a message over the advertised limit fails with
//     552 5.3.4 before anything is sent; SIZE= is declared otherwise;
//   - BODY=8BITMIME/7BIT (RFC 6152), SMTPUTF8 (RFC 6531), DSN RET, ENVID,
//     NOTIFY, ORCPT (RFC 3461), AUTH= (when authenticated), REQUIRETLS,
//     MT-PRIORITY, BY and RRVS are passed through when the downstream
//     offers the extension and dropped when it does not. A message that
//     declared SMTPUTF8 and really needs it (a non-ASCII envelope address
//     or header) fails with 553 5.6.7 when the downstream lacks SMTPUTF8;
//     one that is all ASCII goes without. BODY=BINARYMIME fails (no BDAT);
//     REQUIRETLS without a TLS downstream that offers it fails;
//   - content is streamed, dot-stuffed, with every line ending in CRLF: a
//     bare CR or bare LF becomes CRLF, so the bytes sent never hold one;
//   - connection reuse: up to MaxConnections connections, idle ones kept
//     for IdleTimeout and reused after an RSET, for at most
//     MaxMessagesPerConn transactions.
//   - recipient verification (VerifyRecipient): MAIL FROM:<>, RCPT TO,
//     RSET, on connections of its own (a few kept idle), no message sent.
//
// Results: a 2xx reply delivers, 4xx defers, 5xx fails, per recipient
// (RCPT replies, and with LMTP the per-recipient replies after the final
// dot). A delivered recipient's Handoff tells the queue which success DSN
// it owes (RFC 3461 §5.2): none when the downstream advertised DSN and so
// received NOTIFY and ORCPT (envelope.HandoffPassedOn), "delivered" for an
// LMTP server without DSN (HandoffFinal), "relayed" for an SMTP server
// without DSN (HandoffRelayed). Everything that goes wrong before MAIL defers: connection failures
// (4.4.1), timeouts and lost connections (4.4.2, naming the step), a
// 5xx greeting or EHLO, TLS required but not offered (4.7.4), a failed
// handshake (4.7.5), AUTH trouble. Each step has its own timeout, as RFC
// 5321 §4.5.3.2 suggests; a cancelled context ends the delivery at once.
//
// go-smtp's client is not used: it cannot send XCLIENT or XFORWARD (it has
// no way to send a raw command or to greet again after one), it sends each
// command and waits (no pipelining), it has one timeout for every command
// and no context, it rewrites DSN parameters from decoded values instead
// of passing them through, and its LMTP replies are keyed by address, so
// repeated recipients collapse. This package runs its own small state
// machine over the connection; go-smtp's server is used in the tests.
//
// It does not do MX lookups or try several hosts, DANE or MTA-STS, BDAT,
// or 8-bit to 7-bit conversion.
package smtpclient
