// Package dnsbl is the built-in filter that checks the client's address
// against DNS blocklists (RFC 5782) when it connects, and rejects it,
// fails it temporarily, or tags its messages.
//
// # Lookups
//
// For client 192.0.2.99 and zone zen.spamhaus.org the filter asks for the
// A records of 99.2.0.192.zen.spamhaus.org (RFC 5782 §2.1); for an IPv6
// client, the 32 nibbles of the address in reverse order (§2.4). An
// IPv4-mapped IPv6 address is looked up as IPv4. Every zone is asked at
// once, when the client connects, and Options.Timeout bounds them all:
// a lookup not answered by then has failed. A name that does not exist,
// or has no A record, means "not listed".
//
// Clients in Options.SkipNetworks (loopback by default) and connections
// without an IP address (unix sockets) are never looked up.
//
// # Zones and weights
//
// Each zone is written "name[=codes][*weight]":
//
//	zen.spamhaus.org                    any answer in 127.0.0.0/8 lists
//	zen.spamhaus.org=127.0.0.[2..11]    only these answers list
//	bl.example=127.0.0.2,127.0.0.[4;6]  a list of patterns
//	bl.example*2                        weight 2 (default 1)
//	allow.example=127.0.0.2*-5          a negative weight: an allowlist
//
// A pattern has four octets, each a number or, between brackets, numbers
// and ranges lo..hi separated by ';' (the notation of Postfix's
// postscreen_dnsbl_sites). Without codes, an answer in 127.255.255.0/24,
// which lists such as Spamhaus send to report an error (a query through
// a public resolver), counts as a failed lookup, not a listing. A zone may
// appear several times with different codes and weights; it is asked
// once.
//
// The client is listed when the sum of the weights of the zones that list
// it reaches Options.Threshold (1 by default).
//
// # Actions
//
//	reject    refuse, by default "554 5.7.1 Service unavailable; client
//	          [ADDR] blocked using ZONE" (ZONE: the listing zones of
//	          positive weight, separated by ", ")
//	tempfail  refuse temporarily, by default 451 4.7.1 with that text
//	tag       let the mail through and add "X-DNSBL: ZONE" at the end of
//	          the header of each message
//
// Options.Reply sets the reply: "[code [enhanced] ]text", one line, with
// %a for the client address, %z for the listing zones, %r for the answers
// that listed them and %% for a percent sign. The code must fit the action
// (5xx for reject, 4xx for tempfail); a missing enhanced code is X.7.1.
// The text is cut to fit a 512-octet reply line.
//
// At connect, the verdict refuses the connection: the SMTP front-end sends
// a reject's reply as its greeting, with code 554, and answers 503 to every
// command but QUIT (RFC 5321 §3.1); a tempfail's reply goes out with code
// 421 and the connection is closed. With Options.RejectAt "rcpt" the
// lookups still start at connect, but the verdict is given to each RCPT
// (as Postfix's smtpd_delay_reject), so the log shows whom the client
// tried to mail.
//
// # Failures
//
// A lookup that fails (time-out, SERVFAIL, refused) counts as both
// listing and not listing; when the two give the same verdict, it stands.
// Otherwise Options.OnDNSError decides: "accept" (the default) lets the
// client through, "tempfail" answers "451 4.4.3 Client [ADDR] blocklist
// lookup failed, try again later" (421 at connect). A lookup never hangs
// the session.
//
// # Needs
//
// The filter is called at connect, at RCPT with RejectAt "rcpt", and at
// end of message for tag, which is its only edit. It reads no macro: the
// address comes from the envelope.Conn given to Connect.
//
// # Errors
//
// New reports every problem with the options at once, each an
// *OptionError whose Key is the option's name in a configuration file
// ("zones[1]", "reply", "timeout", ...), joined with errors.Join.
//
// # Not done
//
// The filter does not read the TXT records of a listing (RFC 5782 §2.1),
// does not test that a list is alive (the 127.0.0.2 / 127.0.0.1 test
// entries of §5), does not look up domain names (right-hand-side lists,
// §2.3) or HELO names, and caches nothing beyond what the resolver does.
package dnsbl
