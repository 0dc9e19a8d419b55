// Package xclient encodes and parses the attributes of Postfix's XCLIENT
// and XFORWARD SMTP extensions, with which a trusted proxy or content
// filter tells the next MTA who the original client was.
//
// XCLIENT (Postfix XCLIENT_README) replaces the server's idea of the
// client for the rest of the session: NAME, ADDR, PORT, PROTO, HELO,
// LOGIN, DESTADDR, DESTPORT; the server answers 220 and the client greets
// again. XFORWARD (Postfix XFORWARD_README) only adds logging and
// Received-header information for the next transaction: NAME, ADDR, PORT,
// PROTO, HELO, IDENT, SOURCE. Both carry attribute=value pairs whose values
// are xtext (RFC 3461 §4), with [UNAVAILABLE] and [TEMPUNAVAIL] standing for
// missing information, on command lines of at most 512 octets; a client
// splits a long list over several commands.
//
// The client side builds the attribute lists from an envelope.Conn
// (ClientAttrs, ForwardAttrs), keeps those the server advertised
// (Supported) and renders the command lines (Commands). The server side
// parses a command's arguments with Parse, decides who may send the
// commands (Networks) and applies the attributes to the client identity of
// a session (Identity.ApplyXClient, Identity.ApplyXForward), checking every
// value first. When to accept the commands, and what a session does after
// them (a new greeting after XCLIENT, XFORWARD for one transaction), belong
// to the SMTP server, package smtpd.
package xclient
