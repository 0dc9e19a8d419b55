// Package dmarc is the built-in filter that evaluates DMARC (RFC 7489)
// at end of message, the way OpenDMARC runs behind OpenDKIM: it does not
// check SPF or DKIM itself but reads the results the filters before it
// recorded in the message.
//
// # What it reads
//
//   - The Authentication-Results fields (RFC 8601) whose authserv-id is
//     Options.AuthservID: every "dkim=pass" result there gives its
//     header.d as a DKIM-authenticated domain (filter/dkim writes them, and
//     deletes fields a client forged with that authserv-id).
//   - The topmost Received-SPF field (RFC 7208 §9.1, as filter/spf writes
//     it): its result, and the domain of envelope-from (identity=mailfrom)
//     or the helo name (identity=helo). It is used only when its
//     envelope-from is the transaction's own envelope sender.
//   - The one From field (RFC 5322 §3.6.2), which must hold exactly one
//     address; otherwise the result is permerror (RFC 7489 §6.6.1).
//
// In a filter.Chain a filter placed after an editor (filter/spf and
// filter/dkim add fields) sees the header section at end of message as
// those editors left it, so their fields are there.
//
// # The evaluation
//
// The DMARC record is looked up at _dmarc.<From domain>, then, when there
// is none, at the organizational domain (RFC 7489 §3.2, §6.6.3), found
// with the public suffix list of golang.org/x/net/publicsuffix. The record
// is fetched and parsed by github.com/emersion/go-msgauth/dmarc; a name
// with several DMARC records has none. The From domain is aligned with a
// DKIM or SPF domain (RFC 7489 §3.1) strictly (equal) or relaxed (same
// organizational domain) as adkim and aspf say. The result is
//
//	pass       an aligned DKIM pass or SPF pass
//	fail       none of them
//	none       no DMARC record
//	temperror  the record lookup failed or timed out, or the message
//	           fails with an aligned dkim or spf temperror
//	permerror  a malformed record, or no usable From address
//
// The policy of a fail is p, or sp when the record is the organizational
// domain's and the From domain a subdomain of it; pct below 100 applies it
// to that share of failing messages and the next milder policy to the rest
// (RFC 7489 §6.6.4).
//
// # What it does
//
// Every evaluated message gets an Authentication-Results field with the
// same authserv-id, at the top of the header section:
//
//	Authentication-Results: mx.example.org;
//		dmarc=fail (p=reject dis=none) header.from=example.com
//
// where p is the policy and dis what the filter did. With Options.Enforce
// a fail under p=reject is refused with 550 5.7.1 and one under
// p=quarantine is quarantined (dis=reject, dis=quarantine); without it
// (the default) the field is all. A temperror lets the message through,
// or answers 451 4.4.3 when Options.DNSError is "tempfail". Lookups are
// bounded by Options.Timeout, for the whole message.
//
// Clients in Options.SkipNetworks (by default loopback), clients that
// authenticated (the {auth_authen} macro at MAIL, or the login known at
// connect) and connections without an IP address are not evaluated.
//
// # What it does not do
//
// No aggregate or failure reports (rua, ruf, fo), no ARC, no local
// policy overrides or forwarder lists, no DMARCbis (np, psd, t). It does
// not verify DKIM or check SPF, and trusts the fields it reads: run it
// after filter/dkim (verifying) and filter/spf, with the same skip
// networks, or tell it with IgnoreAuthResults and IgnoreReceivedSPF which
// of them it has no checker for.
package dmarc
