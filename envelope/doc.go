// Package envelope holds the plain data every role of sluice shares: the
// facts of a client connection (address, HELO, TLS, authentication, and the
// identity an XCLIENT or XFORWARD command overrides them with), the envelope
// of a transaction (sender and recipients with their ESMTP and DSN
// parameters), and identifiers.
//
// It has no behaviour beyond small helpers and imports nothing of sluice, so
// the SMTP engine, the filters, the milter roles and the queue can all speak
// of the same connection and transaction without depending on each other.
package envelope
