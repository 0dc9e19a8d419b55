// Package tls holds sluice's TLS policy and certificates: the client side
// that the downstream delivery (package smtpclient) uses for STARTTLS, and
// the server side that the SMTP front-end (package smtpd) offers with
// STARTTLS.
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
// The server side (ServerCertificates, ServerConfig) presents a
// certificate loaded from a certificate file and a key file, reloaded on
// demand (Reload; cmd/sluice calls it on SIGHUP) without disturbing
// connections in progress, or by default a self-signed certificate for the
// host name (SelfSigned). It too accepts TLS 1.2 and 1.3 only.
//
// The package does not decide when to start TLS: the protocol engines do.
// It does not request or verify client certificates.
package tls
