package spf

import (
	"errors"
	"strings"
	"unicode/utf8"

	"blitiri.com.ar/go/spf"
)

// foldAt is the line length after which the header value is folded
// (RFC 5322 §2.1.1 advises 78).
const foldAt = 78

// maxShown is the most octets of a client-given value the field shows:
// RFC 5321 §4.5.3.1 allows 256 for a path and 255 for a domain, so only
// a value no MTA should have passed is cut, keeping lines within the
// 998 octets of RFC 5322 §2.1.1.
const maxShown = 320

// receivedSPF renders the value of a Received-SPF field (RFC 7208 §9.1):
//
//	result (comment) client-ip=…; envelope-from="…"; helo=…;
//	    receiver=…; identity=mailfrom
//
// The client-given sender and HELO name are made safe: quoted when they
// are not dot-atoms, with control characters dropped, and with
// parentheses and backslashes replaced in the comment.
func receivedSPF(o *outcome, receiver string) string {
	c := *o
	o = &c
	o.from, o.sender, o.domain, o.helo = clip(o.from), clip(o.sender), clip(o.domain), clip(o.helo)
	pieces := []string{string(o.result)}
	for w := range strings.FieldsSeq(comment(o, receiver)) {
		pieces = append(pieces, w)
	}
	pieces[1] = "(" + pieces[1]
	pieces[len(pieces)-1] += ")"
	pieces = append(pieces,
		"client-ip="+o.ip.String()+";",
		"envelope-from="+quoted(o.from)+";",
	)
	if o.helo != "" {
		pieces = append(pieces, "helo="+atomOrQuoted(o.helo)+";")
	}
	if receiver != "" {
		pieces = append(pieces, "receiver="+receiver+";")
	}
	pieces = append(pieces, "identity="+o.identity)
	return fold(pieces, len("Received-SPF: "))
}

// clip cuts s to maxShown octets, at a character boundary, marking the
// cut with "...".
func clip(s string) string {
	if len(s) <= maxShown {
		return s
	}
	n := maxShown - 3
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

// comment explains the result in words, as RFC 7208 §9.1's examples do.
func comment(o *outcome, receiver string) string {
	var b strings.Builder
	if receiver != "" {
		b.WriteString(receiver + ": ")
	}
	who := "domain of " + commentText(o.sender)
	ip := o.ip.String()
	switch o.result {
	case spf.Pass:
		b.WriteString(who + " designates " + ip + " as permitted sender")
	case spf.Fail:
		b.WriteString(who + " does not designate " + ip + " as permitted sender")
	case spf.SoftFail:
		b.WriteString("domain of transitioning " + commentText(o.sender) + " does not designate " + ip + " as permitted sender")
	case spf.Neutral:
		b.WriteString(ip + " is neither permitted nor denied by " + who)
	case spf.TempError:
		b.WriteString("temporary error in processing during lookup of " + commentText(o.sender))
	case spf.PermError:
		b.WriteString("permanent error in processing " + who)
	default:
		if errors.Is(o.err, errNoDomain) {
			b.WriteString(commentText(o.domain) + " is no domain to check")
		} else {
			b.WriteString(who + " has no SPF record")
		}
	}
	return b.String()
}

// commentText makes s fit in a comment: no control characters, no
// parentheses or backslashes, which would end or escape it.
func commentText(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r < 0x20 || r == 0x7f || r == 0xfffd:
			return -1
		case r == '(' || r == ')' || r == '\\' || r == ' ':
			return '_'
		}
		return r
	}, s)
	if s == "" {
		return "<>"
	}
	return s
}

// quoted is s as an RFC 5322 quoted-string, without control characters.
func quoted(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r < 0x20 || r == 0x7f || r == 0xfffd:
			continue
		case r == '"' || r == '\\':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	b.WriteByte('"')
	return b.String()
}

// atomOrQuoted is s as a dot-atom when it is one, else quoted.
func atomOrQuoted(s string) string {
	if isDotAtom(s) {
		return s
	}
	return quoted(s)
}

// isDotAtom reports whether s is an RFC 5322 §3.2.3 dot-atom-text of
// ASCII atext.
func isDotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '.' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			continue
		}
		if c < 0x21 || c > 0x7e || strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) < 0 {
			return false
		}
	}
	return true
}

// checkReceiver accepts an empty receiver or a dot-atom, so receiver=
// needs no quoting.
func checkReceiver(s string) error {
	if s != "" && !isDotAtom(s) {
		return errors.New("want a host name such as mx.example.com, got " + quoted(s))
	}
	return nil
}

// fold joins pieces with spaces, starting a new line (CRLF and a tab)
// before a piece that would pass foldAt. start is the length already
// used on the first line.
func fold(pieces []string, start int) string {
	var b strings.Builder
	n := start
	for i, p := range pieces {
		switch {
		case i == 0:
		case n+1+len(p) > foldAt:
			b.WriteString("\r\n\t")
			n = 8
		default:
			b.WriteByte(' ')
			n++
		}
		b.WriteString(p)
		n += len(p)
	}
	return b.String()
}
