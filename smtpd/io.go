package smtpd

import (
	"bufio"
	"bytes"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Line limits, CRLF included.
const (
	maxCommandLine = 512   // RFC 5321 §4.5.3.1.4
	maxAuthLine    = 12288 // RFC 4954 §4: AUTH command and SASL responses
	// MAIL may be longer by SIZE (RFC 1870 §3: 26), RET and ENVID
	// (RFC 3461 §4: 100), AUTH= (RFC 4954 §5: 500) and SMTPUTF8
	// (RFC 6531 §3.4: 10); RCPT by NOTIFY and ORCPT (RFC 3461 §4: 500).
	maxMailLine = maxCommandLine + 26 + 100 + 500 + 10
	maxRcptLine = maxCommandLine + 500
)

var (
	errLineTooLong           = errors.New("line too long")
	errBareLF                = errors.New("line not ended by CRLF")
	errDraining              = errors.New("server shutting down")
	errWoken       net.Error = wokenError{}
)

// wokenError is the read error of a session interrupted by Shutdown. It is
// a temporary timeout, so that crypto/tls does not keep it.
type wokenError struct{}

func (wokenError) Error() string   { return "smtpd: interrupted by shutdown" }
func (wokenError) Timeout() bool   { return true }
func (wokenError) Temporary() bool { return true }

// deadlineConn sets a deadline before each read and write: the current
// stage's timeout, never past the connection's time limit. A read while
// interruptible and draining returns errWoken.
type deadlineConn struct {
	net.Conn
	deadline      time.Time     // the connection's time limit
	timeout       time.Duration // read timeout of the current stage
	writeTimeout  time.Duration
	draining      *atomic.Bool
	interruptible atomic.Bool
}

func (c *deadlineConn) Read(p []byte) (int, error) {
	for range 3 {
		dl := time.Now().Add(c.timeout)
		if dl.After(c.deadline) {
			dl = c.deadline
		}
		if err := c.Conn.SetReadDeadline(dl); err != nil {
			return 0, err
		}
		if c.interruptible.Load() && c.draining.Load() {
			return 0, errWoken
		}
		n, err := c.Conn.Read(p)
		var ne net.Error
		if n == 0 && errors.As(err, &ne) && ne.Timeout() && time.Now().Before(dl) {
			if c.interruptible.Load() {
				return 0, errWoken
			}
			continue // a wake-up meant for an earlier read: read again
		}
		return n, err
	}
	return 0, errWoken
}

func (c *deadlineConn) Write(p []byte) (int, error) {
	// Not capped by the connection's time limit: the 421 that says it
	// was reached must still go out.
	if err := c.Conn.SetWriteDeadline(time.Now().Add(c.writeTimeout)); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

// readLine reads one line of at most max octets with its line end, and
// returns it without CRLF, valid until the next call. A longer line is
// read to its end and reported as errLineTooLong; a line ended by a bare
// LF as errBareLF. timeout bounds each wait for more input.
func (s *session) readLine(max int, timeout time.Duration) ([]byte, error) {
	s.flushUnlessLine()
	s.dc.timeout = timeout
	if cap(s.line) > 1024 {
		s.line = nil // do not keep a long line's buffer for an idle session
	}
	s.line = s.line[:0]
	tooLong := false
	for {
		frag, err := s.br.ReadSlice('\n')
		if len(s.line)+len(frag) <= max {
			s.line = append(s.line, frag...)
		} else {
			tooLong = true
		}
		if err == nil {
			break
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return nil, err
		}
	}
	if tooLong {
		return nil, errLineTooLong
	}
	n := len(s.line)
	if n < 2 || s.line[n-2] != '\r' {
		return nil, errBareLF
	}
	return s.line[:n-2], nil
}

// flushUnlessLine sends the replies written so far unless a whole command
// is already buffered (RFC 2920 §3.2: replies to a pipelined group go out
// together, and must go out before the server waits for more).
func (s *session) flushUnlessLine() {
	if n := s.br.Buffered(); n > 0 {
		if buf, _ := s.br.Peek(n); bytes.IndexByte(buf, '\n') >= 0 {
			return
		}
	}
	s.flush()
}

// flush writes the buffered replies; a failure ends the session.
func (s *session) flush() {
	if err := s.bw.Flush(); err != nil {
		if !s.closing {
			s.log.Debug("smtpd: write failed", "err", err)
		}
		s.closing = true
	}
}

// reply writes a reply: text lines are separated by "\n"; enhanced is ""
// for replies that carry no enhanced code (greeting, EHLO, 3xx). A 421
// ends the session.
func (s *session) reply(code int, enhanced, text string) {
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		s.bw.WriteString(strconv.Itoa(code))
		if i < len(lines)-1 {
			s.bw.WriteByte('-')
		} else {
			s.bw.WriteByte(' ')
		}
		if enhanced != "" {
			s.bw.WriteString(enhanced)
			if l != "" {
				s.bw.WriteByte(' ')
			}
		}
		s.bw.WriteString(l)
		s.bw.WriteString("\r\n")
	}
	if s.opts.Trace {
		r := strconv.Itoa(code)
		if enhanced != "" {
			r += " " + enhanced
		}
		s.log.Debug("smtpd: >", "reply", r+" "+strings.ReplaceAll(text, "\n", " / "))
	}
	if code == codeUnavailable {
		s.closing = true
	}
}

// answer sends e.
func (s *session) answer(e *Error) {
	if e.Err != nil {
		s.log.Debug("smtpd: error reply", "code", e.Code, "enhanced", e.Enhanced, "err", e.Err)
	}
	s.reply(e.Code, e.Enhanced, e.Message)
}

// fail sends e as the answer to a bad command: 5xx replies count toward
// MaxErrors, and the session ends with 421 once it is reached.
func (s *session) fail(e *Error) {
	s.answer(e)
	if e.Code/100 != 5 {
		return
	}
	s.errors++
	if s.errors >= s.opts.MaxErrors && !s.closing {
		s.log.Info("smtpd: too many errors", "errors", s.errors)
		s.reply(codeUnavailable, esTempAuth, s.opts.Hostname+" Too many errors, closing connection")
	}
}
