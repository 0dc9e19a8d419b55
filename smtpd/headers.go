package smtpd

import (
	"strconv"
	"strings"

	"github.com/sluice-mta/sluice/filter"
)

// renderHeader builds the final header section: the Received field, the
// fields, and the empty line. Values are made safe for the wire (see
// appendValue), which leaves the fields a client sent byte for byte.
func renderHeader(received string, fields []filter.HeaderField) []byte {
	n := len(received) + 2
	for _, f := range fields {
		n += len(f.Name) + len(f.Value) + 3
	}
	b := make([]byte, 0, n)
	b = append(b, received...)
	for _, f := range fields {
		b = append(b, f.Name...)
		b = append(b, ':')
		b = appendValue(b, f.Value)
		b = append(b, '\r', '\n')
	}
	return append(b, '\r', '\n')
}

// appendValue appends a field value so that it cannot end the field or
// the header section early: every line break (CRLF, bare CR, bare LF, as
// a filter may write them) becomes CRLF, an empty continuation line is
// dropped, and a continuation line that does not start with white space
// gets a space, so it cannot pass for a new field.
func appendValue(b []byte, v string) []byte {
	first := true
	for len(v) > 0 || first {
		i := strings.IndexAny(v, "\r\n")
		line := v
		if i >= 0 {
			line = v[:i]
			if v[i] == '\r' && i+1 < len(v) && v[i+1] == '\n' {
				i++
			}
			v = v[i+1:]
		} else {
			v = ""
		}
		switch {
		case first:
			b = append(b, line...)
			first = false
		case line == "":
		case line[0] == ' ' || line[0] == '\t':
			b = append(b, '\r', '\n')
			b = append(b, line...)
		default:
			b = append(b, '\r', '\n', ' ')
			b = append(b, line...)
		}
	}
	return b
}

// received builds the Received field (RFC 5321 §4.4) for m, folded, with
// its CRLF:
//
//	Received: from HELO (NAME [ADDR])
//		(using TLSv1.3 with cipher TLS_AES_128_GCM_SHA256 (128 bits))
//		by HOSTNAME (sluice) with ESMTPS id QUEUEID
//		for <RCPT>; DATE
//
// The TLS line is there for TLS sessions only, the "for" clause for a
// single recipient with a plain ASCII address only.
func (s *session) received(m *Message) string {
	c := m.Client
	var b strings.Builder
	b.WriteString("Received: from ")
	b.WriteString(receivedToken(c.HELO))
	b.WriteString(" (")
	b.WriteString(receivedToken(hostName(c.ClientName)))
	if c.ClientAddr.IsValid() {
		a := c.ClientAddr.Addr()
		b.WriteString(" [")
		if a.Is6() {
			b.WriteString("IPv6:")
		}
		b.WriteString(a.String())
		b.WriteString("]")
	}
	b.WriteString(")\r\n")
	if t := c.TLS; t != nil {
		b.WriteString("\t(using " + t.Version + " with cipher " + t.Cipher + " (" + strconv.Itoa(t.CipherBits) + " bits))\r\n")
	}
	b.WriteString("\tby " + s.opts.Hostname + " (sluice) with " + receivedProto(c.Proto, m) + " id " + m.Envelope.QueueID)
	if r := m.Envelope.Recipients; len(r) == 1 && receivedToken(r[0].Addr) == r[0].Addr {
		b.WriteString("\r\n\tfor <" + r[0].Addr + ">")
	}
	b.WriteString("; " + m.Arrived.Format("Mon, 2 Jan 2006 15:04:05 -0700") + "\r\n")
	return b.String()
}

// receivedProto is the "with" protocol: an SMTPUTF8 transaction over
// ESMTP is UTF8SMTP, with the same S and A suffixes (RFC 6531 §3.7.3).
func receivedProto(proto string, m *Message) string {
	if _, utf := m.Envelope.From.Param("SMTPUTF8"); utf && strings.HasPrefix(proto, "ESMTP") {
		proto = "UTF8SMTP" + strings.TrimPrefix(proto, "ESMTP")
	}
	return receivedToken(proto)
}

// receivedToken keeps a client-given word from breaking the Received
// field's syntax: characters other than printable ASCII, and the
// delimiters "()<>;\\\"", become '?'. An empty word is "unknown".
func receivedToken(s string) string {
	if s == "" {
		return "unknown"
	}
	return strings.Map(func(r rune) rune {
		if r <= ' ' || r >= 0x7f || strings.ContainsRune("()<>;\\\"", r) {
			return '?'
		}
		return r
	}, s)
}
