// Package dkim is the built-in filter that verifies and adds DKIM
// signatures (RFC 6376, with the algorithms of RFC 8301 and RFC 8463).
//
// # Verifying
//
// At end of message every DKIM-Signature field (up to
// Options.MaxSignatures) is checked, the public keys fetched as DNS TXT
// records through Options.Resolver, and the results recorded in one
// Authentication-Results field (RFC 8601) inserted at the top of the
// header section:
//
//	Authentication-Results: mx.example.org;
//		dkim=pass header.d=example.com header.s=sel1 header.b=AbCdEfGh
//
// with one dkim= result per signature: pass, fail (the body hash or the
// signature does not verify), permerror (a malformed signature, a missing,
// revoked or unusable key), temperror (the key lookup failed or timed
// out), or a single dkim=none for a message without signatures. Results
// other than pass carry a reason. header.b is the first 8 characters of
// the signature (RFC 6008), telling apart two signatures of one domain.
// Authentication-Results fields already present that claim this host's
// authserv-id are deleted first (RFC 8601 §5), whatever the outcome.
//
// By default a message is never refused for its signatures: DMARC and
// the operator's policy decide. RejectOnFail refuses a message whose
// signatures all fail (fail or permerror) with 550 5.7.20 (RFC 7372);
// TempFailDNS answers 451 4.4.3 when no signature passes and a key could
// not be fetched, so the client retries; otherwise such a message is
// accepted with dkim=temperror. Every lookup is bounded by
// Options.Timeout, for the whole message.
//
// # Signing
//
// A message is signed when its client is trusted — its address is in
// SignNetworks (default loopback) or it authenticated (the {auth_authen}
// macro, unless NoSignAuthenticated) — and the domain of the first
// mailbox of its one From field is, exactly and case-insensitively, the
// domain of one or more Keys. Each such key adds a DKIM-Signature field at
// the top of the header section: rsa-sha256 or ed25519-sha256 by the
// key's type, relaxed/relaxed canonicalization, signing each field of
// SignHeaders present in the message (every occurrence) and From once
// more, so no second From can be added afterwards. A message that is
// signed is not verified. Keys are PEM files (PKCS #1 "RSA PRIVATE KEY",
// or PKCS #8 "PRIVATE KEY" holding RSA or Ed25519), read once by New; an
// RSA key under 1024 bits is refused (RFC 8301), one under 2048 bits and a
// file readable by everyone are logged as warnings.
//
// # The message
//
// The header section and body are kept to verify or sign them: in memory
// up to Options.MemoryBytes, then in an unlinked temporary file in
// Options.TempDir. A message over Options.MaxMessageBytes is neither
// verified nor signed: it passes as it is, with a log line.
//
// The header fields are seen as the MTA will write them (the filter asks
// for their leading space), so a signature covers exactly what leaves.
// Filters and milters that run after this one may break its signatures
// by editing the header fields it signed or the body: place it last.
//
// # What it does not do
//
// No DMARC or ADSP policy, no ARC, no signing of subdomains of a key's
// domain or with an i= identity, no l= body length (signatures carrying
// one are reported as fail), no key rotation while running (a reload
// builds a new filter), no caching of keys beyond the resolver's own.
package dkim
