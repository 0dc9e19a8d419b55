package smtpclient

import (
	"bufio"
	"bytes"
)

// dataWriter writes message content for DATA (RFC 5321 §4.5.2): it makes
// every line end CRLF (a bare CR or a bare LF becomes CRLF, so no bare CR
// or LF ever reaches the wire) and doubles a dot that starts a line. Close
// ends the last line if needed and writes the final ".".
type dataWriter struct {
	w     *bufio.Writer
	state int
}

// dataWriter states.
const (
	atLineStart = iota
	inLine
	afterCR
)

func newDataWriter(w *bufio.Writer) *dataWriter { return &dataWriter{w: w} }

func (d *dataWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if d.state == afterCR {
			// CR LF stays; a CR followed by anything else was a bare CR
			// and gets its LF here.
			if err := d.w.WriteByte('\n'); err != nil {
				return 0, err
			}
			d.state = atLineStart
			if p[0] == '\n' {
				p = p[1:]
				continue
			}
		}
		if d.state == atLineStart && p[0] == '.' {
			if err := d.w.WriteByte('.'); err != nil {
				return 0, err
			}
		}
		i := bytes.IndexAny(p, "\r\n")
		if i < 0 {
			if _, err := d.w.Write(p); err != nil {
				return 0, err
			}
			d.state = inLine
			break
		}
		if _, err := d.w.Write(p[:i]); err != nil {
			return 0, err
		}
		if p[i] == '\r' {
			if err := d.w.WriteByte('\r'); err != nil {
				return 0, err
			}
			d.state = afterCR
		} else {
			if _, err := d.w.WriteString("\r\n"); err != nil {
				return 0, err
			}
			d.state = atLineStart
		}
		p = p[i+1:]
	}
	return n, nil
}

// Close completes the last line and writes the end-of-data line; it does
// not flush.
func (d *dataWriter) Close() error {
	var err error
	switch d.state {
	case afterCR:
		err = d.w.WriteByte('\n')
	case inLine:
		_, err = d.w.WriteString("\r\n")
	}
	if err != nil {
		return err
	}
	d.state = atLineStart
	_, err = d.w.WriteString(".\r\n")
	return err
}
