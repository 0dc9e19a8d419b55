// Package tls holds sluice's TLS policy and certificates: the client side
// that the downstream delivery (package smtpclient) uses for STARTTLS, and
// a self-signed certificate for a host name, which tests use now and the
// SMTP server will use as its default certificate.
//
// The client policies follow the levels an MTA offers for STARTTLS
// (RFC 3207): none (never), opportunistic (when offered, without
// verification, falling back to plaintext), required (TLS mandatory, the
// certificate not verified: encryption without authentication, like
// Postfix's "encrypt" level) and verify (TLS mandatory, the chain verified
// against the given roots and the name checked, like Postfix's "secure").
// Every configuration asks for TLS 1.2 or later.
//
// The package keeps the name the design gives it; files that also need the
// standard library's package import that one as cryptotls.
//
// It does not load or reload certificate files yet, and it does not decide
// when to start TLS: the protocol engines do.
package tls
