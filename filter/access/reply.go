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

// parseReply parses a configured reply for a reject (5xx) or tempfail
// (4xx) rule: "550 5.7.1 Go away", several lines separated by "\n". A
// line after the first may repeat the code ("550-5.7.1 more", "550 more")
// or be plain text. Without an enhanced status code the reply gets 5.7.1
// or 4.7.1: Postfix refuses milter replies without one.
func parseReply(s string, a action) (*filter.Reply, error) {
	lines := strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
	if len(lines) > 1 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	if len(lines) > maxReplyLines {
		return nil, fmt.Errorf("%d lines, over %d", len(lines), maxReplyLines)
	}
	code, rest, err := replyCode(lines[0])
	if err != nil {
		return nil, err
	}
	if err := codeFitsAction(code, a); err != nil {
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

// replyCode splits "550 text" or "550-text" into the code and the text.
// The code is RFC 5321 §4.2.1's: first digit 2-5, second 0-5, third 0-9.
func replyCode(l string) (int, string, error) {
	if len(l) < 3 || (len(l) > 3 && l[3] != ' ' && l[3] != '-') {
		return 0, "", fmt.Errorf("%q does not start with a three-digit reply code", l)
	}
	c := l[:3]
	if c[0] < '2' || c[0] > '5' || c[1] < '0' || c[1] > '5' || c[2] < '0' || c[2] > '9' {
		return 0, "", fmt.Errorf("%q is not an SMTP reply code (RFC 5321 §4.2.1)", c)
	}
	code, _ := strconv.Atoi(c)
	if len(l) == 3 {
		return code, "", nil
	}
	return code, l[4:], nil
}

func codeFitsAction(code int, a action) error {
	switch {
	case a == actReject && code/100 != 5:
		return fmt.Errorf("code %d is not 5xx, as reject needs", code)
	case a == actTempFail && code/100 != 4:
		return fmt.Errorf("code %d is not 4xx, as tempfail needs", code)
	}
	return nil
}

// enhancedCode takes the RFC 3463 enhanced status code off the front of
// text when its first word looks like one (a digit, then a dot), checks
// it, and returns it and the rest. Without one, it returns the default
// for the code's class.
func enhancedCode(text string, code int) (string, string, error) {
	word, rest, _ := strings.Cut(text, " ")
	if word == "" || word[0] < '0' || word[0] > '9' || !strings.Contains(word, ".") {
		return fmt.Sprintf("%d.7.1", code/100), text, nil
	}
	if err := checkEnhanced(word); err != nil {
		return "", "", err
	}
	if int(word[0]-'0') != code/100 {
		return "", "", fmt.Errorf("enhanced status code %s does not match reply code %d (RFC 3463 §2)", word, code)
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

// continuation returns the text of a line after the first. A line that
// starts with a reply code must repeat the first line's code, and may
// repeat its enhanced code.
func continuation(l string, r *filter.Reply) (string, error) {
	if len(l) < 3 || strings.Trim(l[:3], "0123456789") != "" || (len(l) > 3 && l[3] != ' ' && l[3] != '-') {
		return l, nil
	}
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
	if word != "" && word[0] >= '0' && word[0] <= '9' && strings.Contains(word, ".") {
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
