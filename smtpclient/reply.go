package smtpclient

import (
	"bufio"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/sluice-mta/sluice/envelope"
)

// Reply limits: RFC 5321 §4.5.3.1.5 allows 512 octets per reply line; we
// take four times that, and bound the lines of one reply.
const (
	maxReplyLine  = 2048
	maxReplyLines = 200
)

// Reply is one SMTP reply (RFC 5321 §4.2).
type Reply struct {
	Code     int
	Enhanced string   // RFC 3463 code from the first line, "" when none
	Lines    []string // text of each line, the code and enhanced code removed
}

// Text joins the reply's lines with a space.
func (r Reply) Text() string { return strings.Join(r.Lines, " ") }

// String renders the reply as one line: "550 5.1.1 text".
func (r Reply) String() string {
	s := strconv.Itoa(r.Code)
	if r.Enhanced != "" {
		s += " " + r.Enhanced
	}
	if t := r.Text(); t != "" {
		s += " " + t
	}
	return s
}

// status classifies the reply for the recipients it concerns.
func (r Reply) status() envelope.Status {
	switch r.Code / 100 {
	case 2:
		return envelope.Delivered
	case 5:
		return envelope.Failed
	}
	return envelope.Deferred
}

// errBadReply reports a reply that breaks RFC 5321's syntax.
var errBadReply = errors.New("malformed reply")

// readReply reads one possibly multi-line reply.
func readReply(r *bufio.Reader) (Reply, error) {
	var rep Reply
	for n := 0; ; n++ {
		if n == maxReplyLines {
			return rep, fmt.Errorf("%w: more than %d lines", errBadReply, maxReplyLines)
		}
		line, err := readLine(r)
		if err != nil {
			return rep, err
		}
		code, more, text, err := splitReplyLine(line)
		if err != nil {
			return rep, err
		}
		if n == 0 {
			rep.Code = code
		} else if code != rep.Code {
			return rep, fmt.Errorf("%w: code %d in a reply that began with %d", errBadReply, code, rep.Code)
		}
		rep.Lines = append(rep.Lines, text)
		if !more {
			break
		}
	}
	rep.Enhanced = enhancedCode(rep.Code, rep.Lines[0])
	if rep.Enhanced != "" {
		for i, l := range rep.Lines {
			if rest, ok := strings.CutPrefix(l, rep.Enhanced); ok && (rest == "" || rest[0] == ' ') {
				rep.Lines[i] = strings.TrimPrefix(rest, " ")
			}
		}
	}
	return rep, nil
}

// readLine reads a line ending in LF (CRLF or, leniently, a bare LF) of
// at most maxReplyLine octets, and returns it without the line end.
func readLine(r *bufio.Reader) (string, error) {
	var buf []byte
	for {
		chunk, err := r.ReadSlice('\n')
		buf = append(buf, chunk...)
		if len(buf) > maxReplyLine {
			return "", fmt.Errorf("%w: line longer than %d octets", errBadReply, maxReplyLine)
		}
		if err == nil {
			break
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return "", err
		}
	}
	s := strings.TrimSuffix(string(buf), "\n")
	return strings.TrimSuffix(s, "\r"), nil
}

// splitReplyLine splits "250-text" or "250 text" or "250".
func splitReplyLine(line string) (code int, more bool, text string, err error) {
	if len(line) < 3 || line[0] < '2' || line[0] > '5' || !isDigit(line[1]) || !isDigit(line[2]) {
		return 0, false, "", fmt.Errorf("%w: %q", errBadReply, truncate(line, 80))
	}
	code = int(line[0]-'0')*100 + int(line[1]-'0')*10 + int(line[2]-'0')
	if len(line) == 3 {
		return code, false, "", nil
	}
	switch line[3] {
	case '-':
		return code, true, line[4:], nil
	case ' ':
		return code, false, line[4:], nil
	}
	return 0, false, "", fmt.Errorf("%w: %q", errBadReply, truncate(line, 80))
}

// enhancedCode returns the RFC 3463 status code that starts text when its
// class matches the reply code's first digit.
func enhancedCode(code int, text string) string {
	tok, _, _ := strings.Cut(text, " ")
	parts := strings.Split(tok, ".")
	if code/100 == 3 || len(parts) != 3 || len(parts[0]) != 1 || parts[0][0]-'0' != byte(code/100) {
		return ""
	}
	for _, p := range parts[1:] {
		if len(p) == 0 || len(p) > 3 {
			return ""
		}
		for i := 0; i < len(p); i++ {
			if !isDigit(p[i]) {
				return ""
			}
		}
	}
	return tok
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
