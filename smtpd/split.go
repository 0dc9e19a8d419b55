package smtpd

import "bytes"

// splitter separates CRLF-clean content into header fields and body
// (RFC 5322 §2.1). The header section ends at the empty line, or at the
// first line that is neither a field nor a continuation, which then
// starts the body. Fields are passed whole (folding kept) once the next
// line shows they are complete.
type splitter struct {
	maxHeader int
	field     func(name, value string) // value: after the colon, folding kept, no final CRLF
	endHeader func(blank bool)         // blank: ended by the empty line
	body      func([]byte)

	inBody   bool
	line     []byte // the header line being read
	cur      []byte // the current field, lines joined by CRLF
	hdrBytes int
	tooBig   bool // the header section is over maxHeader
}

// Write takes content; after tooBig it only counts.
func (sp *splitter) Write(p []byte) {
	for len(p) > 0 && !sp.inBody {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			sp.addLine(p)
			return
		}
		sp.addLine(p[:i+1])
		p = p[i+1:]
		if !sp.tooBig {
			sp.headerLine(sp.line)
		}
		sp.line = sp.line[:0]
	}
	if len(p) > 0 {
		sp.body(p)
	}
}

func (sp *splitter) addLine(p []byte) {
	sp.hdrBytes += len(p)
	if sp.hdrBytes > sp.maxHeader {
		sp.tooBig = true
	}
	if !sp.tooBig {
		sp.line = append(sp.line, p...)
	}
}

// headerLine handles one complete line (with its CRLF) of the header
// section.
func (sp *splitter) headerLine(l []byte) {
	switch {
	case len(l) == 2: // the empty line
		sp.endFields(true)
	case (l[0] == ' ' || l[0] == '\t') && len(sp.cur) > 0:
		sp.cur = append(sp.cur, l...)
	case fieldNameEnd(l) > 0:
		sp.flushField()
		sp.cur = append(sp.cur, l...)
	default: // not a header: the body starts here
		sp.endFields(false)
		sp.body(l)
	}
}

func (sp *splitter) endFields(blank bool) {
	sp.flushField()
	sp.inBody = true
	sp.endHeader(blank)
}

// flushField passes the current field on.
func (sp *splitter) flushField() {
	if len(sp.cur) == 0 {
		return
	}
	f := sp.cur[:len(sp.cur)-2] // without the final CRLF
	colon := bytes.IndexByte(f, ':')
	name := bytes.TrimRight(f[:colon], " \t")
	sp.field(string(name), string(f[colon+1:]))
	sp.cur = sp.cur[:0]
}

// Close ends the content: a header section still open ends here.
func (sp *splitter) Close() {
	if sp.inBody {
		return
	}
	if len(sp.line) > 0 && !sp.tooBig {
		if !bytes.HasSuffix(sp.line, []byte("\r\n")) {
			sp.line = append(sp.line, '\r', '\n')
		}
		sp.headerLine(sp.line)
		sp.line = sp.line[:0]
	}
	if !sp.inBody {
		sp.endFields(false)
	}
}

// fieldNameEnd returns the index of the colon after a field name at the
// start of l (RFC 5322 §3.6.8: printable ASCII but ":"; white space
// before the colon is tolerated, RFC 5322 §4.5.8), or -1.
func fieldNameEnd(l []byte) int {
	i := 0
	for i < len(l) && l[i] > ' ' && l[i] < 0x7f && l[i] != ':' {
		i++
	}
	if i == 0 {
		return -1
	}
	j := i
	for j < len(l) && (l[j] == ' ' || l[j] == '\t') {
		j++
	}
	if j < len(l) && l[j] == ':' {
		return j
	}
	return -1
}
