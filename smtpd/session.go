package smtpd

import (
	"bufio"
	"context"
	cryptotls "crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"time"

	"github.com/sluice-mta/sluice/filter"
	"github.com/sluice-mta/sluice/xclient"
)

// session is one SMTP connection. Its methods run on one goroutine, except
// wakeIfIdle.
type session struct {
	srv  *Server
	opts *Options
	log  *slog.Logger
	id   string

	raw    net.Conn      // as accepted
	dc     *deadlineConn // raw with per-stage deadlines; TLS runs over it
	br     *bufio.Reader
	bw     *bufio.Writer
	ctx    context.Context // ends with the connection's time limit or Server.Close
	cancel context.CancelFunc
	line   []byte // command line buffer

	peer     netip.AddrPort // the real client: the socket's, or the PROXY header's
	local    netip.AddrPort
	admitted bool // counted in the per-address connections
	started  time.Time

	who xclient.Identity // the client as filters and Received see it (rDNS, XCLIENT)
	xc  xclientSet       // what XCLIENT set, overriding the session's own view
	ptr string           // unverified reverse DNS name, for {client_ptr}

	helo     string // EHLO/HELO argument
	esmtp    bool
	greeted  bool
	tlsState *cryptotls.ConnectionState
	authUser string
	authMech string

	flt    filter.Session // nil without filters
	needs  filter.Needs
	macros *macroSet

	tx         *transaction
	fwd        *xclient.Identity // XFORWARD identity for the next transaction
	errors     int
	denied     bool // a filter refused the connection: 503 to all but QUIT
	discardAll bool // a filter discards every message of the connection
	closing    bool // end the session after the current reply
}

// xclientSet records which session facts an XCLIENT command overrode.
type xclientSet struct {
	helo, proto, login bool
}

// newSession returns a session of srv on nc that runs with o until it
// ends, whatever Reload does meanwhile.
func newSession(srv *Server, o *Options, nc net.Conn, id string) *session {
	now := time.Now()
	ctx, cancel := context.WithDeadline(srv.ctx, now.Add(o.Timeouts.Connection))
	s := &session{
		srv: srv, opts: o, id: id, raw: nc, ctx: ctx, cancel: cancel, started: now,
		log: srv.log.With("conn", id),
	}
	s.dc = &deadlineConn{Conn: nc, deadline: now.Add(o.Timeouts.Connection), draining: &srv.draining,
		timeout: o.Timeouts.Command, writeTimeout: o.Timeouts.Command}
	s.br = bufio.NewReaderSize(s.dc, 4096)
	s.bw = bufio.NewWriterSize(s.dc, 4096)
	return s
}

// serve runs the session and cleans up, each under the one recover of a
// connection.
func (s *session) serve() {
	defer s.raw.Close()
	s.protect(s.run)
	s.protect(s.cleanup)
}

// protect is the connection boundary: a panic is logged with its stack
// and answered with 421, and the session ends.
func (s *session) protect(fn func()) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("smtpd: panic in session", "panic", r, "stack", string(debug.Stack()))
			s.reply(codeUnavailable, esTempLocal, s.opts.Hostname+" Internal error, closing connection")
			s.flush()
			s.closing = true
		}
	}()
	fn()
}

// run greets the client and serves commands until QUIT, an error, a
// timeout, or the end of the connection.
func (s *session) run() {
	if !s.open() {
		s.flush()
		return
	}
	for !s.closing {
		line, err := s.readCommand()
		switch {
		case errors.Is(err, errLineTooLong):
			s.fail(errorf(codeSyntax, esSyntax, "Line too long"))
		case errors.Is(err, errBareLF):
			s.fail(errorf(codeSyntax, esSyntax, "Command line not ended by CRLF"))
		case err != nil:
			s.readFailed(err)
			s.closing = true
		default:
			s.handle(line)
		}
	}
	s.flush()
}

// open counts the connection, learns who the client is, opens the filter
// session and greets. It reports false when the session ends at once.
func (s *session) open() bool {
	s.peer, s.local = addrPort(s.raw.RemoteAddr()), addrPort(s.raw.LocalAddr())
	s.log = s.log.With("client", s.peer.String())
	s.log.Debug("smtpd: connection", "local", s.local.String())
	if !s.srv.admitIP(s.peer.Addr()) {
		s.log.Warn("smtpd: too many connections from one address", "limit", s.opts.MaxConnectionsPerIP)
		s.reply(codeUnavailable, esTempAuth, s.opts.Hostname+" Too many connections from your address, try again later")
		return false
	}
	s.admitted = true
	s.who = xclient.Identity{Conn: s.socketConn(), Dest: s.local}
	s.lookupName()
	s.macros = newMacroSet()
	s.setConnMacros()
	if s.opts.Filter != nil && !s.openFilter() {
		return false
	}
	if s.denied {
		return true // the filter's refusal was the greeting
	}
	s.reply(codeReady, "", s.opts.Hostname+" ESMTP")
	return true
}

// readCommand reads the next command line. While the server drains, a
// session outside a transaction gets errDraining instead.
func (s *session) readCommand() ([]byte, error) {
	if s.tx == nil && s.srv.draining.Load() {
		return nil, errDraining
	}
	s.dc.interruptible.Store(s.tx == nil)
	defer s.dc.interruptible.Store(false)
	line, err := s.readLine(maxAuthLine, s.opts.Timeouts.Command)
	if errors.Is(err, errWoken) {
		return nil, errDraining
	}
	return line, err
}

// readFailed answers what ended the command loop, when it can be answered.
func (s *session) readFailed(err error) {
	var ne net.Error
	switch {
	case errors.Is(err, errDraining):
		s.reply(codeUnavailable, esShutdown, s.opts.Hostname+" Service shutting down, closing connection")
	case errors.As(err, &ne) && ne.Timeout():
		s.log.Info("smtpd: timeout", "stage", "command", "in_transaction", s.tx != nil)
		s.reply(codeUnavailable, esTimeout, s.opts.Hostname+" Timeout exceeded, closing connection")
	case errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed):
		s.log.Debug("smtpd: client closed the connection", "in_transaction", s.tx != nil)
	default:
		s.log.Debug("smtpd: read failed", "err", err)
	}
}

// cleanup ends what the session left open.
func (s *session) cleanup() {
	s.endTx()
	if s.flt != nil {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), 10*time.Second)
		s.flt.Close(ctx)
		cancel()
		s.flt = nil
	}
	if s.admitted {
		s.srv.releaseIP(s.peer.Addr())
		s.admitted = false
	}
	s.cancel()
	s.log.Debug("smtpd: disconnect", "duration", time.Since(s.started).Round(time.Millisecond).String(), "errors", s.errors)
}

// wakeIfIdle interrupts a session waiting for a command outside a
// transaction, so that it answers 421 at once. Called by Shutdown after
// it set the draining flag.
func (s *session) wakeIfIdle() {
	if s.dc.interruptible.Load() {
		_ = s.raw.SetReadDeadline(time.Now())
	}
}

// addrPort converts a TCP address; anything else gives the zero value.
func addrPort(a net.Addr) netip.AddrPort {
	if t, ok := a.(*net.TCPAddr); ok {
		ap := t.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return netip.AddrPort{}
}
