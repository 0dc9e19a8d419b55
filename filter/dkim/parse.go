package dkim

import (
	"bufio"
	"io"
	"net/mail"
	"strings"

	"github.com/sluice-mta/sluice/filter"
)

// maxReason bounds a reason= text taken from a library error.
const maxReason = 200

// formatResults renders an Authentication-Results value (RFC 8601 §2.2),
// with its leading space, one result per folded line.
func formatResults(authservID string, results []result) string {
	var b strings.Builder
	b.WriteString(" " + authservID + ";")
	for i, r := range results {
		if i > 0 {
			b.WriteString(";")
		}
		b.WriteString("\r\n\tdkim=" + r.value)
		if r.reason != "" {
			b.WriteString(" reason=" + quote(r.reason))
		}
		for _, p := range [][2]string{{"header.d", r.domain}, {"header.s", r.selector}, {"header.b", r.b}} {
			if p[1] != "" {
				b.WriteString(" " + p[0] + "=" + value(p[1]))
			}
		}
	}
	return b.String()
}

// value renders s as an RFC 2045 token when it is one, else quoted.
func value(s string) string {
	if checkToken(s) == nil {
		return s
	}
	return quote(s)
}

// quote renders s as a quoted-string, without control characters and
// at most maxReason bytes of it. Semicolons become commas: RFC 8601
// allows them quoted, but simple parsers (go-msgauth's authres among
// them) split results on every one.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s) && i < maxReason; i++ {
		c := s[i]
		switch {
		case c < ' ' || c == 0x7f:
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
	return strings.ToValidUTF8(b.String(), "?")
}

// authservID returns the authserv-id an Authentication-Results value
// starts with: a token or quoted-string after optional white space and
// comments; "" when there is none.
func authservID(v string) string {
	v = skipCFWS(v)
	if strings.HasPrefix(v, `"`) {
		var b strings.Builder
		for i := 1; i < len(v); i++ {
			switch v[i] {
			case '\\':
				if i+1 < len(v) {
					i++
					b.WriteByte(v[i])
				}
			case '"':
				return b.String()
			default:
				b.WriteByte(v[i])
			}
		}
		return "" // unterminated
	}
	end := strings.IndexAny(v, " \t\r\n;(")
	if end < 0 {
		end = len(v)
	}
	return v[:end]
}

// skipCFWS drops leading white space and (nested) comments.
func skipCFWS(v string) string {
	depth := 0
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '\\' && depth > 0:
			i++
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case depth > 0, c == ' ', c == '\t', c == '\r', c == '\n':
		default:
			return v[i:]
		}
	}
	return ""
}

// parseTags parses a DKIM tag-list (RFC 6376 §3.2) leniently: tag=value
// pairs separated by ";", white space removed from values (as from b=
// and bh=, harmless for d= and s=). A later duplicate wins.
func parseTags(v string) map[string]string {
	tags := map[string]string{}
	for _, spec := range strings.Split(v, ";") {
		name, val, ok := strings.Cut(spec, "=")
		if !ok {
			continue
		}
		tags[strings.TrimSpace(name)] = strings.Join(strings.Fields(val), "")
	}
	return tags
}

// readHeaderFields reads a header section up to its empty line, folded
// lines joined to their field.
func readHeaderFields(r io.Reader) []filter.HeaderField {
	br := bufio.NewReader(r)
	var out []filter.HeaderField
	for {
		line, err := br.ReadString('\n')
		trimmed := strings.TrimRight(line, "\r\n")
		if trimmed == "" {
			return out
		}
		if (trimmed[0] == ' ' || trimmed[0] == '\t') && len(out) > 0 {
			out[len(out)-1].Value += line
		} else if name, val, ok := strings.Cut(line, ":"); ok {
			out = append(out, filter.HeaderField{Name: name, Value: val})
		}
		if err != nil {
			return out
		}
	}
}

// fromDomain returns the lower-case domain of the first mailbox of a From
// value, "" when it has none.
func fromDomain(v string) string {
	v = strings.NewReplacer("\r\n", "", "\r", "", "\n", "").Replace(v)
	var addr string
	if list, err := mail.ParseAddressList(v); err == nil && len(list) > 0 {
		addr = list[0].Address
	} else if i := strings.LastIndexByte(v, '<'); i >= 0 {
		addr, _, _ = strings.Cut(v[i+1:], ">")
	} else {
		addr = strings.TrimSpace(v)
	}
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return ""
	}
	return strings.ToLower(strings.TrimSuffix(strings.TrimSpace(addr[at+1:]), "."))
}
