package dmarc

import "strings"

// maxReason bounds the reason= text.
const maxReason = 200

// formatResult renders the Authentication-Results value (RFC 8601 §2.2)
// for an outcome, folded after the authserv-id as filter/dkim does:
//
//	mx.example.org;
//		dmarc=fail (p=reject dis=none) header.from=example.com
func formatResult(authservID string, o outcome) string {
	var b strings.Builder
	b.WriteString(authservID + ";\r\n\tdmarc=" + o.result)
	if o.result == resultPass || o.result == resultFail {
		b.WriteString(" (p=" + string(o.policy) + " dis=" + o.dis + ")")
	}
	if o.reason != "" {
		b.WriteString(" reason=" + quote(o.reason))
	}
	if o.from != "" {
		b.WriteString(" header.from=" + o.from)
	}
	return b.String()
}

// quote renders s as a quoted-string of printable ASCII, at most
// maxReason bytes of it; semicolons become commas, as filter/dkim does,
// for parsers that split results at every one.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s) && i < maxReason; i++ {
		c := s[i]
		switch {
		case c < ' ' || c >= 0x7f:
			b.WriteByte(' ')
		case c == ';':
			b.WriteByte(',')
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}
