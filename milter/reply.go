package milter

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// MaxReplyLine is the longest line NewReplyCode builds: an SMTP reply line
// is at most 512 octets including CRLF (RFC 5321 §4.5.3.1.5).
const MaxReplyLine = 510

// NewReplyCode builds an SMFIR_REPLYCODE the way libmilter's
// smfi_setmlreply does: every line is "<code>[-| ]<enhanced> <text>", lines
// joined by CRLF, '-' on all but the last. code must be 4xx or 5xx;
// enhanced is an RFC 3463 status code whose class matches code ("5.7.1");
// empty means "4.0.0" or "5.0.0". With no lines the reply is just
// "<code> <enhanced>". Lines must not contain CR, LF or NUL, and each built
// line must fit MaxReplyLine.
func NewReplyCode(code int, enhanced string, lines ...string) (ReplyCode, error) {
	if code < 400 || code > 599 {
		return ReplyCode{}, fmt.Errorf("milter: reply code %d is not 4xx or 5xx", code)
	}
	class := byte('0' + code/100)
	if enhanced == "" {
		enhanced = string(class) + ".0.0"
	}
	if !validEnhanced(enhanced, class) {
		return ReplyCode{}, fmt.Errorf("milter: enhanced status code %q does not fit reply code %d",
			enhanced, code)
	}
	if len(lines) == 0 {
		lines = []string{""}
	}
	var b strings.Builder
	for i, l := range lines {
		if strings.ContainsAny(l, "\r\n\x00") {
			return ReplyCode{}, fmt.Errorf("milter: reply line %d contains CR, LF or NUL", i+1)
		}
		line := strconv.Itoa(code) + "-" + enhanced
		if i == len(lines)-1 {
			line = strconv.Itoa(code) + " " + enhanced
		}
		if l != "" {
			line += " " + l
		}
		if len(line) > MaxReplyLine {
			return ReplyCode{}, fmt.Errorf("milter: reply line %d is %d bytes, more than %d",
				i+1, len(line), MaxReplyLine)
		}
		if i > 0 {
			b.WriteString("\r\n")
		}
		b.WriteString(line)
	}
	return ReplyCode{Text: b.String()}, nil
}

// ValidateReplyText checks an SMFIR_REPLYCODE text as Postfix expects it:
// lines joined by CRLF (no other CR or LF, no NUL, no final CRLF); every
// line starts with the same 4xx or 5xx code followed by '-' (all lines but
// the last) or ' ' (the last); the first line then carries an RFC 3463
// enhanced status code of the same class.
func ValidateReplyText(text string) error {
	if text == "" {
		return errors.New("empty reply text")
	}
	if strings.IndexByte(text, 0) >= 0 {
		return errors.New("reply text contains NUL")
	}
	lines := strings.Split(text, "\r\n")
	code := ""
	for i, l := range lines {
		if strings.ContainsAny(l, "\r\n") {
			return fmt.Errorf("reply line %d contains a bare CR or LF", i+1)
		}
		if len(l) < 4 || !isDigits(l[:3]) || (l[0] != '4' && l[0] != '5') {
			return fmt.Errorf("reply line %d does not start with a 4xx or 5xx code: %q", i+1, trunc(l))
		}
		if i == 0 {
			code = l[:3]
		} else if l[:3] != code {
			return fmt.Errorf("reply line %d has code %s, first line %s", i+1, l[:3], code)
		}
		want := byte('-')
		if i == len(lines)-1 {
			want = ' '
		}
		if l[3] != want {
			return fmt.Errorf("reply line %d: want %q after the code, have %q", i+1, want, l[3])
		}
	}
	first := lines[0][4:]
	enh, _, _ := strings.Cut(first, " ")
	if !validEnhanced(enh, code[0]) {
		return fmt.Errorf("first reply line lacks an enhanced status code of class %c: %q", code[0], trunc(lines[0]))
	}
	return nil
}

// SMTPCode returns the three-digit reply code of the text, or 0 when the
// text does not start with one.
func (r ReplyCode) SMTPCode() int {
	if len(r.Text) < 3 || !isDigits(r.Text[:3]) {
		return 0
	}
	n, _ := strconv.Atoi(r.Text[:3])
	return n
}

// Enhanced returns the enhanced status code of the first line ("5.7.1"),
// or "" when there is none.
func (r ReplyCode) Enhanced() string {
	if len(r.Text) < 5 {
		return ""
	}
	first, _, _ := strings.Cut(r.Text[4:], "\r\n")
	enh, _, _ := strings.Cut(first, " ")
	if !validEnhanced(enh, r.Text[0]) {
		return ""
	}
	return enh
}

// Lines returns the text of each line without the reply code, separator
// and (if the line has one of the right class) enhanced status code.
func (r ReplyCode) Lines() []string {
	raw := strings.Split(r.Text, "\r\n")
	out := make([]string, 0, len(raw))
	for _, l := range raw {
		if len(l) < 4 {
			out = append(out, "")
			continue
		}
		rest := l[4:]
		enh, after, found := strings.Cut(rest, " ")
		if validEnhanced(enh, l[0]) {
			rest = ""
			if found {
				rest = after
			}
		}
		out = append(out, rest)
	}
	return out
}

// validEnhanced checks class.subject.detail (RFC 3463 §2): class is the
// given digit, subject and detail 1 to 3 digits.
func validEnhanced(s string, class byte) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 3 || len(parts[0]) != 1 || parts[0][0] != class {
		return false
	}
	for _, p := range parts[1:] {
		if len(p) < 1 || len(p) > 3 || !isDigits(p) {
			return false
		}
	}
	return true
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func trunc(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
