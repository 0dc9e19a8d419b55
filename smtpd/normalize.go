package smtpd

import "bytes"

// normalizer makes message content CRLF-clean: every line ends with CRLF,
// and a bare CR or bare LF (RFC 5321 §2.3.8) becomes CRLF and is noted,
// so the caller can refuse the message instead. It also counts the
// output and notes lines longer than maxLine octets before their CRLF.
// Output goes to out, which must not keep the slice.
type normalizer struct {
	out     func([]byte)
	maxLine int // longest line without its CRLF
	lineLen int
	cr      bool // the last input byte was a CR, its LF still to come
	size    int64
	bare    bool // a bare CR or LF was seen
	long    bool // a line was longer than maxLine
	buf     []byte
}

// Write normalizes p. It never fails.
func (n *normalizer) Write(p []byte) (int, error) {
	total := len(p)
	n.buf = n.buf[:0]
	for len(p) > 0 {
		if n.cr {
			n.cr = false
			n.newline()
			if p[0] == '\n' {
				p = p[1:]
				continue
			}
			n.bare = true // a CR not followed by LF
		}
		i := bytes.IndexAny(p, "\r\n")
		if i < 0 {
			n.text(p)
			break
		}
		n.text(p[:i])
		if p[i] == '\n' {
			n.bare = true // an LF without its CR
			n.newline()
		} else {
			n.cr = true
		}
		p = p[i+1:]
	}
	n.flush()
	return total, nil
}

// Close ends the content: a pending CR is a bare one, and a last line
// without its line end (BDAT content may end so) gets CRLF.
func (n *normalizer) Close() {
	n.buf = n.buf[:0]
	switch {
	case n.cr:
		n.cr = false
		n.bare = true
		n.newline()
	case n.lineLen > 0:
		n.newline()
	}
	n.flush()
}

func (n *normalizer) text(p []byte) {
	n.buf = append(n.buf, p...)
	n.lineLen += len(p)
	if n.lineLen > n.maxLine {
		n.long = true
	}
}

func (n *normalizer) newline() {
	n.buf = append(n.buf, '\r', '\n')
	n.lineLen = 0
}

func (n *normalizer) flush() {
	if len(n.buf) > 0 {
		n.size += int64(len(n.buf))
		n.out(n.buf)
	}
	if cap(n.buf) > 64<<10 {
		n.buf = nil
	}
}
