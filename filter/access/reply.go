package access

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/sluice-mta/sluice/filter"
)

const (
	// maxReplyLines is the most lines a milter may send in one reply
	// (libmilter's smfi_setmlreply limit).
	maxReplyLines = 32
	// maxReplyLine is the longest reply line, CRLF included
	// (RFC 5321 §4.5.3.1.5).
	maxReplyLine = 512
)

// compileReply checks and parses the Reply of a rule whose action is
// named name.
func compileReply(s, name string, a action) (*filter.Reply, error) {
	if a != actReject && a != actTempFail {
		return nil, fmt.Errorf("only for actions \"reject\" and \"tempfail\" (action is %q)", name)
	}
	if strings.ContainsAny(s, "\r\x00") {
		return nil, fmt.Errorf("reply %q contains CR or NUL (separate lines with \"\\n\")", s)
	}
	r, err := parseReply(s, a)
	if err != nil {
		return nil, fmt.Errorf("reply %q: %w", s, err)
	}
	return r, nil
}

// parseReply parses a configured reply for a reject (5xx) or tempfail
// (4xx) rule: "550 5.7.1 Go away", several lines separated by "\n", each
// starting with the same code and a space ("550 5.7.1 one\n550 5.7.1
// two"; the enhanced code after the first line may be left out). The
// hyphens of a multi-line reply are the sender's to add. Without an enhanced status code the reply gets 5.7.1 or 4.7.1: Postfix
// refuses milter replies without one.
func parseReply(s string, a action) (*filter.Reply, error) {
	lines := strings.Split(s, "\n")
	if len(lines) > maxReplyLines {
		return nil, fmt.Errorf("%d lines, over %d", len(lines), maxReplyLines)
	}
	if err := checkCodes(lines, a); err != nil {
		return nil, err
	}
	code, rest, err := replyCode(lines[0])
	if err != nil {
		return nil, err
	}
	r := &filter.Reply{Code: code}
	r.Enhanced, rest, err = enhancedCode(rest, code)
	if err != nil {
		return nil, err
	}
	r.Lines = append(r.Lines, rest)
	for i, l := range lines[1:] {
		text, err := continuation(l, r)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", i+2, err)
		}
		r.Lines = append(r.Lines, text)
	}
	for i, l := range r.Lines {
		if err := checkReplyText(l, r); err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return r, nil
}

// checkCodes checks that every line starts with a reply code of the
// class the action needs (5 for reject, 4 for tempfail) and then ends or
// goes on with a space, and that each enhanced status code after one is
// of that class too (RFC 3463 §2).
func checkCodes(lines []string, a action) error {
	want := byte('5')
	if a == actTempFail {
		want = '4'
	}
	for i, l := range lines {
		if !hasCode(l) || l[0] != want {
			return fmt.Errorf("want a %cxx code", want)
		}
		if len(l) > 3 && l[3] == '-' {
			return fmt.Errorf("line %d: want \"%s text\", without the hyphen (a multi-line reply gets its hyphens when sent)", i+1, l[:3])
		}
		if word, _, _ := strings.Cut(l[min(len(l), 4):], " "); looksEnhanced(word) && word[0] != want {
			return fmt.Errorf("enhanced code %s does not match class %c", word, want)
		}
	}
	return nil
}

// hasCode reports whether l starts with three digits and then ends, or
// goes on with a space or (refused by checkCodes, with its own message) a
// hyphen.
func hasCode(l string) bool {
	return len(l) >= 3 && strings.Trim(l[:3], "0123456789") == "" && (len(l) == 3 || l[3] == ' ' || l[3] == '-')
}

// looksEnhanced reports whether word is meant as an enhanced status
// code: a digit first, and a dot.
func looksEnhanced(word string) bool {
	return word != "" && word[0] >= '0' && word[0] <= '9' && strings.Contains(word, ".")
}

// replyCode splits "550 text" into the code and the text;
// checkCodes has seen three digits of the right class. The code is
// RFC 5321 §4.2.1's: second digit 0-5.
func replyCode(l string) (int, string, error) {
	c := l[:3]
	if c[1] > '5' {
		return 0, "", fmt.Errorf("%q is not an SMTP reply code (RFC 5321 §4.2.1)", c)
	}
	code, _ := strconv.Atoi(c)
	if len(l) == 3 {
		return code, "", nil
	}
	return code, l[4:], nil
}

// enhancedCode takes the RFC 3463 enhanced status code off the front of
// text when its first word looks like one, checks it, and returns it and
// the rest. Without one, it returns the default for the code's class.
func enhancedCode(text string, code int) (string, string, error) {
	word, rest, _ := strings.Cut(text, " ")
	if !looksEnhanced(word) {
		return fmt.Sprintf("%d.7.1", code/100), text, nil
	}
	if err := checkEnhanced(word); err != nil {
		return "", "", err
	}
	return word, rest, nil
}

// checkEnhanced accepts class.subject.detail: a class of 2, 4 or 5 and
// subject and detail of one to three digits (RFC 3463 §2).
func checkEnhanced(e string) error {
	parts := strings.Split(e, ".")
	bad := len(parts) != 3 || len(parts[0]) != 1 || !strings.Contains("245", parts[0])
	for _, p := range parts {
		bad = bad || p == "" || len(p) > 3 || strings.Trim(p, "0123456789") != ""
	}
	if bad {
		return fmt.Errorf("%q is not an enhanced status code class.subject.detail (RFC 3463 §2)", e)
	}
	return nil
}

// continuation returns the text of a line after the first, which
// checkCodes has seen start with a code: it must repeat the first
// line's code, and may repeat its enhanced code.
func continuation(l string, r *filter.Reply) (string, error) {
	code, text, err := replyCode(l)
	if err != nil {
		return "", err
	}
	if code != r.Code {
		return "", fmt.Errorf("code %d differs from the first line's %d", code, r.Code)
	}
	word, rest, _ := strings.Cut(text, " ")
	if word == r.Enhanced {
		return rest, nil
	}
	if looksEnhanced(word) {
		return "", fmt.Errorf("enhanced status code %s differs from the first line's %s", word, r.Enhanced)
	}
	return text, nil
}

// checkReplyText accepts printable text, tabs and UTF-8 (RFC 5321
// §4.2.1 textstring, RFC 6531) that fits a reply line.
func checkReplyText(l string, r *filter.Reply) error {
	if !utf8.ValidString(l) {
		return errors.New("text is not valid UTF-8")
	}
	for _, c := range l {
		if c < ' ' && c != '\t' || c == 0x7f {
			return fmt.Errorf("text contains control character %q", c)
		}
	}
	if n := len("550-") + len(r.Enhanced) + 1 + len(l) + len("\r\n"); n > maxReplyLine {
		return fmt.Errorf("line is %d octets, over %d (RFC 5321 §4.5.3.1.5)", n, maxReplyLine)
	}
	return nil
}
