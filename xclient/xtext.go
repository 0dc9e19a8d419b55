package xclient

import (
	"errors"
	"fmt"
	"strings"
)

// EncodeXtext returns s as xtext (RFC 3461 §4): the printable ASCII
// characters other than "+" and "=" stand for themselves, every other byte
// is "+" and two upper-case hexadecimal digits.
func EncodeXtext(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if plainXchar(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('+')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&0xf])
	}
	return b.String()
}

// plainXchar reports whether c stands for itself in xtext.
func plainXchar(c byte) bool {
	return c >= '!' && c <= '~' && c != '+' && c != '='
}

// ErrXtext reports a value that is not xtext.
var ErrXtext = errors.New("xclient: malformed xtext")

// DecodeXtext decodes xtext. It accepts lower-case hexadecimal digits and a
// literal "=" (which senders ought to encode), and rejects a "+" without
// two hexadecimal digits and any byte outside printable ASCII.
func DecodeXtext(s string) (string, error) {
	if !strings.Contains(s, "+") {
		for i := 0; i < len(s); i++ {
			if s[i] < '!' || s[i] > '~' {
				return "", fmt.Errorf("%w: byte 0x%02x at %d", ErrXtext, s[i], i)
			}
		}
		return s, nil
	}
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '+':
			if i+2 >= len(s) {
				return "", fmt.Errorf("%w: truncated +XX at %d", ErrXtext, i)
			}
			hi, ok1 := unhex(s[i+1])
			lo, ok2 := unhex(s[i+2])
			if !ok1 || !ok2 {
				return "", fmt.Errorf("%w: bad +XX at %d", ErrXtext, i)
			}
			out = append(out, hi<<4|lo)
			i += 2
		case c < '!' || c > '~':
			return "", fmt.Errorf("%w: byte 0x%02x at %d", ErrXtext, c, i)
		default:
			out = append(out, c)
		}
	}
	return string(out), nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}
