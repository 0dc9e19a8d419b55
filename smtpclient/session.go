package smtpclient

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// session is one connection to the downstream and what it told us.
type session struct {
	cl       *Client
	conn     net.Conn
	r        *bufio.Reader
	w        *bufio.Writer
	ext      map[string]string // EHLO keywords (upper case) and their parameters
	tls      bool
	authed   bool
	identity string // the XCLIENT identity in force, "" for our own
	messages int    // transactions done
	idle     time.Time
	broken   bool // an I/O or protocol error: never reuse

	writeStage stage // what deadlineWriter is writing for
	inAuth     bool  // redact the trace
}

// stage names a step of a session, for timeouts and error texts.
type stage int

const (
	stageGreeting stage = iota
	stageHello
	stageStartTLS
	stageAuth
	stageXClient
	stageXForward
	stageMail
	stageRcpt
	stageDataInit
	stageDataBlock
	stageDataFinal
	stageRset
	stageQuit
)

// String says what the session was doing, for error texts: "... while
// <stage>".
func (s stage) String() string {
	switch s {
	case stageGreeting:
		return "receiving the initial server greeting"
	case stageHello:
		return "performing the EHLO handshake"
	case stageStartTLS:
		return "starting TLS"
	case stageAuth:
		return "authenticating"
	case stageXClient:
		return "sending XCLIENT"
	case stageXForward:
		return "sending XFORWARD"
	case stageMail:
		return "sending MAIL FROM"
	case stageRcpt:
		return "sending RCPT TO"
	case stageDataInit:
		return "sending DATA"
	case stageDataBlock:
		return "sending message body"
	case stageDataFinal:
		return "sending end of data -- message may be sent more than once"
	case stageRset:
		return "sending RSET"
	}
	return "sending QUIT"
}

// timeout returns the limit for one read or write in stage st.
func (t Timeouts) timeout(st stage) time.Duration {
	switch st {
	case stageGreeting:
		return t.Greeting
	case stageMail:
		return t.Mail
	case stageRcpt:
		return t.Rcpt
	case stageDataInit:
		return t.DataInit
	case stageDataBlock:
		return t.DataBlock
	case stageDataFinal:
		return t.DataFinal
	case stageQuit:
		return min(t.Command, 10*time.Second)
	}
	return t.Command
}

// ioError is a failed read or write in a stage.
type ioError struct {
	stage stage
	err   error
}

func (e *ioError) Error() string {
	switch {
	case errors.Is(e.err, os.ErrDeadlineExceeded):
		return "timed out while " + e.stage.String()
	case errors.Is(e.err, io.EOF), errors.Is(e.err, io.ErrUnexpectedEOF):
		return "lost connection while " + e.stage.String()
	case errors.Is(e.err, errBadReply):
		return fmt.Sprintf("%v while %s", e.err, e.stage)
	}
	return fmt.Sprintf("error while %s: %v", e.stage, e.err)
}

func (e *ioError) Unwrap() error { return e.err }

// reader and writer for the current connection (again after STARTTLS).
func (s *session) setConn(c net.Conn) {
	s.conn = c
	s.r = bufio.NewReaderSize(c, 4096)
	s.w = bufio.NewWriterSize(deadlineWriter{s}, 32*1024)
}

// deadlineWriter renews the write deadline before each write, so the
// stage's timeout bounds each block rather than the whole message.
type deadlineWriter struct{ s *session }

func (d deadlineWriter) Write(p []byte) (int, error) {
	_ = d.s.conn.SetWriteDeadline(time.Now().Add(d.s.cl.opts.Timeouts.timeout(d.s.writeStage)))
	return d.s.conn.Write(p)
}

// send writes command lines (without CRLF) and flushes them.
func (s *session) send(st stage, lines ...string) error {
	s.writeStage = st
	for _, l := range lines {
		s.trace("> ", l)
		if _, err := s.w.WriteString(l + "\r\n"); err != nil {
			s.broken = true
			return &ioError{st, err}
		}
	}
	if err := s.w.Flush(); err != nil {
		s.broken = true
		return &ioError{st, err}
	}
	return nil
}

// reply reads one reply within the stage's timeout. A 421 reply marks the
// session broken: the server is closing it.
func (s *session) reply(st stage) (Reply, error) {
	_ = s.conn.SetReadDeadline(time.Now().Add(s.cl.opts.Timeouts.timeout(st)))
	rep, err := readReply(s.r)
	if err != nil {
		s.broken = true
		return rep, &ioError{st, err}
	}
	s.traceReply(st, rep)
	if rep.Code == 421 {
		s.broken = true
	}
	return rep, nil
}

// cmd sends one command and reads its reply.
func (s *session) cmd(st stage, line string) (Reply, error) {
	if err := s.send(st, line); err != nil {
		return Reply{}, err
	}
	return s.reply(st)
}

// trace logs a protocol line when tracing is on.
func (s *session) trace(dir, line string) {
	if !s.cl.opts.Trace {
		return
	}
	if s.inAuth {
		if dir == "> " {
			line = redact(line)
		}
	}
	s.cl.log.Debug("smtpclient trace", "remote", s.cl.remote, "line", dir+line)
}

func (s *session) traceReply(st stage, rep Reply) {
	if !s.cl.opts.Trace {
		return
	}
	text := rep.String()
	if st == stageAuth && rep.Code == 334 {
		text = "334 [redacted]"
	}
	s.cl.log.Debug("smtpclient trace", "remote", s.cl.remote, "line", "< "+text)
}

// redact keeps the verb and mechanism of an AUTH command and hides the
// rest, and hides SASL responses entirely.
func redact(line string) string {
	f := strings.Fields(line)
	if len(f) >= 2 && strings.EqualFold(f[0], "AUTH") {
		return f[0] + " " + f[1] + " [redacted]"
	}
	return "[redacted]"
}

// sizeLimit returns the SIZE the server advertised, 0 for none.
func (s *session) sizeLimit() int64 {
	v, ok := s.ext["SIZE"]
	if !ok {
		return 0
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// has reports whether the server advertised keyword.
func (s *session) has(keyword string) bool {
	_, ok := s.ext[keyword]
	return ok
}

// quit says goodbye politely and closes the connection.
func (s *session) quit() {
	if !s.broken {
		if err := s.send(stageQuit, "QUIT"); err == nil {
			_, _ = s.reply(stageQuit)
		}
	}
	s.close()
}

func (s *session) close() {
	s.broken = true
	_ = s.conn.Close()
}

// watch closes the connection when ctx ends before stop is called; it
// returns stop, which reports whether the session is still intact.
func (s *session) watch(ctx context.Context) func() bool {
	stop := context.AfterFunc(ctx, func() { _ = s.conn.Close() })
	return func() bool {
		if !stop() {
			s.broken = true
		}
		return !s.broken
	}
}
