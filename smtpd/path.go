package smtpd

import (
	"strings"
	"unicode/utf8"
)

// Path limits (RFC 5321 §4.5.3.1.3 and §4.5.3.1.2).
const (
	maxPath   = 256
	maxDomain = 255
)

// pathArg is a parsed MAIL or RCPT argument.
type pathArg struct {
	addr     string // the mailbox without angle brackets or source route; "" for <>
	params   string // the ESMTP parameters after the path
	nonASCII bool   // the mailbox has UTF-8 (needs SMTPUTF8)
}

// parsePathArg parses the argument of MAIL ("FROM:<path> params") or RCPT
// ("TO:<path> params"): keyword is "FROM" or "TO". Spaces after the colon
// are tolerated; angle brackets are required. A source route
// ("<@a,@b:user@c>") is dropped (RFC 5321 §4.1.1.3). The mailbox must be
// local-part@domain; the null path is returned as "" and the caller
// decides whether it may be used. It returns false on a syntax error.
func parsePathArg(args, keyword string) (pathArg, bool) {
	if len(args) <= len(keyword) || !strings.EqualFold(args[:len(keyword)], keyword) || args[len(keyword)] != ':' {
		return pathArg{}, false
	}
	rest := strings.TrimLeft(args[len(keyword)+1:], " ")
	if !strings.HasPrefix(rest, "<") {
		return pathArg{}, false
	}
	end := closingBracket(rest)
	if end < 0 {
		return pathArg{}, false
	}
	path, after := rest[1:end], rest[end+1:]
	if after != "" && after[0] != ' ' {
		return pathArg{}, false
	}
	if len(path) > maxPath {
		return pathArg{}, false
	}
	path, ok := dropSourceRoute(path)
	if !ok || (path != "" && !validMailbox(path)) {
		return pathArg{}, false
	}
	return pathArg{addr: path, params: strings.Trim(after, " "), nonASCII: !isASCII(path)}, true
}

// closingBracket returns the index of the '>' that ends the path starting
// at s[0] == '<', skipping quoted strings, or -1.
func closingBracket(s string) int {
	quoted := false
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case !quoted && c == '>':
			return i
		}
	}
	return -1
}

// dropSourceRoute removes an A-d-l ("@a,@b:") before the mailbox.
func dropSourceRoute(path string) (string, bool) {
	if !strings.HasPrefix(path, "@") {
		return path, true
	}
	route, mailbox, ok := strings.Cut(path, ":")
	if !ok || mailbox == "" {
		return "", false
	}
	for _, hop := range strings.Split(route, ",") {
		if len(hop) < 2 || hop[0] != '@' || !validDomain(hop[1:]) {
			return "", false
		}
	}
	return mailbox, true
}

// validMailbox checks local-part@domain (RFC 5321 §4.1.2), allowing UTF-8
// (RFC 6531 §3.3), or the bare "postmaster" (RFC 5321 §4.1.1.3).
func validMailbox(m string) bool {
	if strings.EqualFold(m, "postmaster") {
		return true
	}
	at := strings.LastIndexByte(m, '@')
	if at <= 0 || !utf8.ValidString(m) {
		return false
	}
	return validLocalPart(m[:at]) && validDomain(m[at+1:])
}

func validLocalPart(l string) bool {
	if strings.HasPrefix(l, "\"") {
		return validQuoted(l)
	}
	if l == "" || l[0] == '.' || l[len(l)-1] == '.' {
		return false
	}
	for _, r := range l {
		if !(isAtext(r) || r == '.') {
			return false
		}
	}
	return true
}

// validQuoted checks a quoted-string: printable characters, with
// backslash escapes.
func validQuoted(q string) bool {
	if len(q) < 2 || q[len(q)-1] != '"' {
		return false
	}
	inner := q[1 : len(q)-1]
	for i := 0; i < len(inner); i++ {
		c := inner[i]
		switch {
		case c == '\\':
			if i++; i >= len(inner) || inner[i] < ' ' || inner[i] == 0x7f {
				return false
			}
		case c == '"' || c < ' ' || c == 0x7f:
			return false
		}
	}
	return true
}

// isAtext reports whether r may appear in a dot-atom (RFC 5322 §3.2.3),
// UTF-8 letters included (RFC 6532 §3.2).
func isAtext(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		return true
	case r >= 0xa0 && r != utf8.RuneError:
		return true
	}
	return strings.ContainsRune("!#$%&'*+-/=?^_`{|}~", r)
}

// validDomain checks a domain of letter-digit-hyphen labels (UTF-8
// allowed), or an address literal in brackets.
func validDomain(d string) bool {
	if d == "" || len(d) > maxDomain {
		return false
	}
	if d[0] == '[' {
		return validAddressLiteral(d)
	}
	for _, label := range strings.Split(strings.TrimSuffix(d, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r >= 0xa0 && r != utf8.RuneError) {
				return false
			}
		}
	}
	return true
}

// validAddressLiteral checks "[192.0.2.1]", "[IPv6:2001:db8::1]" or a
// general literal "[tag:text]" (RFC 5321 §4.1.3).
func validAddressLiteral(d string) bool {
	if len(d) < 3 || d[len(d)-1] != ']' {
		return false
	}
	inner := d[1 : len(d)-1]
	for i := 0; i < len(inner); i++ {
		if c := inner[i]; c <= ' ' || c > '~' || c == '[' || c == ']' || c == '\\' {
			return false
		}
	}
	return true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
