package smtpd

import (
	"bufio"
	"errors"
	"io"
)

// readDot reads DATA content (RFC 5321 §4.1.1.4) from r up to the line
// that ends it, writes it to w with the dot-stuffing removed (§4.5.2),
// and returns nil at that end.
//
// Lines are delimited by CRLF only, and only CRLF "." CRLF ends the
// content: a "." between bare LFs or bare CRs ("\n.\n", "\r.\r",
// "\n.\r\n", "\r\n.\n", "\r\n.\r") is content, and a dot is removed only
// at the start of a CRLF line. So the server and any downstream agree on
// where the message ends, and nothing after a bare line end can pass for
// a new command (SMTP smuggling). What to do with the bare line ends is
// w's business.
//
// An error reading r before the end (time-out, connection closed) is
// returned; io.EOF becomes io.ErrUnexpectedEOF.
func readDot(r *bufio.Reader, w io.Writer) error {
	atStart := true // at the start of a CRLF line
	prevCR := false // the previous fragment ended with CR
	for {
		raw, err := r.ReadSlice('\n')
		if n := len(raw); n > 0 {
			if atStart && n == 3 && raw[0] == '.' && raw[1] == '\r' && raw[2] == '\n' {
				return nil
			}
			out := raw
			if atStart && raw[0] == '.' {
				out = raw[1:]
			}
			if _, werr := w.Write(out); werr != nil {
				return werr
			}
			if raw[n-1] == '\n' {
				atStart = (n >= 2 && raw[n-2] == '\r') || (n == 1 && prevCR)
				prevCR = false
			} else { // a full buffer, or the end of input
				atStart = false
				prevCR = raw[n-1] == '\r'
			}
		}
		switch {
		case err == nil || errors.Is(err, bufio.ErrBufferFull):
		case errors.Is(err, io.EOF):
			return io.ErrUnexpectedEOF
		default:
			return err
		}
	}
}
