// Package spf is the built-in filter that checks the Sender Policy
// Framework (RFC 7208) at MAIL FROM and records the result in a
// Received-SPF header field (RFC 7208 §9.1).
//
// # What is checked
//
// At MAIL the filter runs check_host() (RFC 7208 §4) for the client's IP
// address and the "MAIL FROM" identity: the domain of the envelope
// sender. When the reverse-path is null (<>), it checks the "HELO"
// identity instead, as postmaster@<HELO name> (RFC 7208 §2.4). A
// sender or HELO name that is no multi-label domain name (an address
// literal, a bare word, a label over 63 octets) gives "none" without a
// lookup (RFC 7208 §4.3). Internationalized domains are looked up as
// A-labels (RFC 8616 §4). The evaluation itself (mechanisms, macros,
// the limits of 10 DNS-querying terms and 2 void lookups of §4.6.4) is
// done by blitiri.com.ar/go/spf, a small, maintained, fuzzed library
// that takes a resolver and a context.
//
// # Results and actions
//
//	pass, neutral, none  the message goes on
//	fail                 FailAction: "reject" (default) answers
//	                     550 5.7.23 (RFC 7372 §3.2), "tag" lets it through
//	softfail             SoftFailAction: "tag" (default) lets it through,
//	                     "tempfail" answers 451 4.7.23
//	temperror            TempErrorAction: "tempfail" (default) answers
//	                     451 4.7.24 (RFC 7372 §3.2), "accept" lets it
//	                     through
//	permerror            PermErrorAction: "accept" (default) lets it
//	                     through, "reject" answers 550 5.7.24
//
// Every message the filter checked and let through gets, at end of
// message, a Received-SPF field with the result, a comment, and the
// client-ip, envelope-from, helo, receiver and identity keys; it is
// inserted at the top of the header section, as a trace field (RFC 7208
// §9.1). NoHeader turns it off.
//
// # Time limits
//
// Each check is bounded by Timeout (default 20 seconds, the least RFC
// 7208 §4.6.4 advises for the whole evaluation). A lookup that times
// out or fails temporarily gives "temperror", never a hang: the check
// runs apart from the session and is abandoned at the deadline even if
// a resolver ignores its context.
//
// # Who is skipped
//
// Clients in SkipNetworks (by default loopback), clients that
// authenticated (the {auth_authen} macro at MAIL, or an AuthLogin
// already known at connect, as after XCLIENT LOGIN), and connections
// without an IP address (unix sockets) are not checked and get no
// header.
//
// # Needs
//
// The filter is called at connect (the client address), HELO (the
// name), MAIL (the check) and end of message (the header); connect and
// HELO never answer. It reads one macro, {auth_authen} at MAIL, and
// makes one edit, a header insertion (none with NoHeader, and then no
// end-of-message call).
//
// # What it does not do
//
// It does not check the HELO identity of a message with a non-null
// sender, does not fetch or show exp= explanations, does not follow
// XFORWARD's per-transaction client address (the client is the one
// given at connect, or by XCLIENT, which opens a new session), and does
// not evaluate DMARC alignment or remove Received-SPF fields a client
// forged. Results are not cached: the resolver may cache.
package spf
