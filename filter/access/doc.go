// Package access is the built-in filter that rejects, temporarily fails,
// discards, quarantines or accepts mail by client network, HELO name,
// sender or recipient.
//
// # Rules
//
// Each Rule has exactly one match key: Client, Helo, Sender or Recipient.
// A rule is evaluated at the stage of its key (Client at connect, Helo at
// HELO/EHLO, Sender at MAIL, Recipient at each RCPT). Within a stage the
// rules are tried in configured order and the first that matches decides.
// A pattern holds no space (but a /regex/ may) and no control character;
// white space around it is an error too, not trimmed.
//
// Client patterns:
//
//	192.0.2.1, 2001:db8::1     one address
//	192.0.2.0/24, 2001:db8::/32 a network (host bits must be zero)
//	/regex/                     the client host name (reverse DNS, or
//	                            whatever the MTA reports, e.g. "[192.0.2.1]"
//	                            or "unknown")
//
// IPv4-mapped IPv6 addresses (::ffff:192.0.2.1) are compared as IPv4,
// in rules and in connections; an IPv6 network never matches an IPv4
// client. A connection without an IP address (a unix socket) matches no
// address rule.
//
// Helo, Sender and Recipient patterns:
//
//	/regex/             RE2, case-insensitive, matched anywhere in the
//	                    subject (Postfix regexp-table style): anchor it with
//	                    ^ and $ to match the whole HELO name or address
//	user@example.com    the exact address (case-insensitive); not for HELO
//	example.com         the exact domain of the address; for HELO, the
//	                    exact name
//	@example.com        the exact domain of the address; not for HELO
//	.example.com        any subdomain of example.com, not example.com itself
//	<>                  the null sender (Sender only)
//
// Addresses are compared without angle brackets; the null sender is the
// empty string, so /^$/ also matches it while domain patterns never do.
// An address without @ has no domain and matches no domain pattern.
//
// # Actions
//
//	reject, tempfail  refuse, with Reply when set ("550 5.7.1 Go away";
//	                  lines are separated by "\n", never CR or NUL, and
//	                  each starts with the same code and a space, as in
//	                  "550 5.7.1 one\n550 two": the hyphens of a multi-line
//	                  reply are added when it is sent). The class of the
//	                  code, and of the enhanced status code, must fit the
//	                  action; 5.7.1 or 4.7.1 is added when the reply has no
//	                  enhanced status code, as Postfix requires one. At
//	                  connect and HELO this refuses the connection, at MAIL
//	                  the transaction, at RCPT that recipient only.
//	discard           accept the message and throw it away. At RCPT this
//	                  discards the whole message, for every recipient (the
//	                  milter protocol has no per-recipient discard). A
//	                  client or HELO discard cannot be answered at connect
//	                  (Postfix refuses it there): it discards every message
//	                  of the connection at MAIL instead.
//	quarantine        let the message through and put it on hold at end of
//	                  message with Reason (default "access rule N:
//	                  PATTERN", N counting rules from 1; only quarantine
//	                  takes a Reason). A client or HELO quarantine holds every
//	                  message of the connection; a sender or recipient one
//	                  the current message only.
//	accept            whitelist: no later access rule applies for the rest
//	                  of the connection (client, HELO) or message (sender,
//	                  recipient). Decisions still pending are dropped with
//	                  it, since the engine calls an accepting filter no more
//	                  and so no edit can follow: a HELO accept drops a
//	                  client discard or quarantine, a sender or recipient
//	                  accept drops any quarantine of that message. A
//	                  connection-level discard is applied at MAIL before
//	                  the sender rules, so a sender accept cannot undo it.
//
// A repeated HELO (after STARTTLS) replaces the previous HELO's decision.
//
// # Needs
//
// The filter asks only for the stages its rules use, plus MAIL for a
// connection-level discard and end of message for quarantine; a stage
// whose rules all quarantine is declared NoReply. It never reads headers
// or the body, and makes no edit but quarantine. It reads no macro: the
// client's address and name come from the envelope.Conn given to Connect
// (in the milter server, from SMFIC_CONNECT), the HELO name, sender and
// recipient from their stages' arguments, so Needs.Macros is an empty,
// non-nil map and the engine computes no macro for it.
//
// # Errors
//
// New judges every rule and reports every problem: each is a *RuleError
// with the rule's index in Options.Rules (counting from 0, as the
// rules[N] of a configuration file do), the field at fault ("client",
// "helo", "sender", "recipient", "action", "reply", "reason", or "" for
// the rule as a whole) and what is wrong; several are joined with
// errors.Join. A program that reads rules from a file turns Index and Key
// into its own names for them. These checks are the only ones: package
// config checks the shape of [[filters.access.rules]], not the patterns
// or replies.
//
// The package does no DNS lookups: forward-confirmed names, DNSBLs and
// SPF live in other filters. Its rules are fixed at New.
package access
