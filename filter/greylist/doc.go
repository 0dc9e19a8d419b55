// Package greylist is the built-in filter that greylists mail: the first
// attempt of an unknown (client network, sender, recipient) triplet is
// refused with a temporary failure, and a retry after a delay passes. Real
// MTAs retry (RFC 5321 §4.5.4.1); much bulk mail software does not.
//
// # Triplets
//
// The client is grouped by network: IPv4 addresses by /24 and IPv6 by /64
// unless IPv4Prefix and IPv6Prefix say otherwise (IPv4-mapped IPv6
// addresses count as IPv4), so a sender's pool of outgoing servers is one
// client. The sender is compared in lower case with its BATV tag
// ("prvs=tag=user@example.com") removed and each run of digits in the
// local part replaced by "#", so per-message return paths (VERP, bounce
// tracking) make one triplet; the recipient is compared in lower case.
//
// At each RCPT:
//
//   - an unknown triplet is recorded and refused with
//     "450 4.2.0 Greylisted, please try again later";
//   - a retry before Delay since the first attempt is refused again;
//   - a retry after Delay and within RetryWindow passes; the triplet is then
//     remembered, and passes at once, until Expire since it was last seen;
//   - a retry after RetryWindow counts as a first attempt.
//
// A client network that has passed AutoWhitelistCount messages is
// whitelisted as a whole until Expire since its last message (each message
// counts once, however many recipients passed).
//
// With ReplyAtData the refusal waits for the end of the message: the
// triplets are judged at each RCPT as above, and the whole message is
// refused (RFC 5321 §3.3: a 4xx reply after the final dot) if any of its
// recipients was greylisted. Some clients retry a whole message better
// than single recipients.
//
// # Exemptions
//
// Not greylisted: clients in WhitelistNetworks (none by default in the
// package; package config defaults to loopback), authenticated clients
// (the {auth_authen} macro at MAIL, or envelope.Conn.AuthLogin at
// connect), clients without an IP address (unix sockets), senders matching
// WhitelistSenders and recipients matching WhitelistRecipients. An
// address pattern is "user@example.com" (that address), "user@" (that
// local part at any domain, e.g. "postmaster@"), "example.com" (its
// domain), ".example.com" (any subdomain, not the domain itself) or, for
// senders, "<>" (the null sender); all compared case-insensitively.
//
// # State
//
// The triplets and the whitelisted networks live in memory, at most
// MaxEntries of each: beyond, the expired ones go first, then those seen
// least recently. With StateFile set, they are also kept in a JSON file,
// loaded by New and written every SaveInterval and at Close: to a
// temporary file that is fsynced and renamed over the old one, then the
// directory is fsynced. Each write first merges what the file holds, so
// two filters sharing a file (an old and a new chain during a
// configuration reload, or `sluice serve` and `sluice milter`) converge.
// An unreadable file is moved aside (".bad" appended) with a warning, and
// the filter starts empty.
//
// # What it does not do
//
// It does no DNS lookups (no per-domain SPF grouping of senders' servers),
// reads no headers or body and makes no edit. It keeps no state in a
// database shared between hosts: each host greylists on its own.
package greylist
