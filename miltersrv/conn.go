package miltersrv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-mta/sluice/filter"
	"github.com/sluice-mta/sluice/milter"
)

var connSeq atomic.Uint64

// errQuit ends a connection normally (SMFIC_QUIT, or a drain between
// sessions).
var errQuit = errors.New("quit")

// errPanic ends a connection whose filter panicked.
var errPanic = errors.New("filter panicked")

// conn is one MTA connection.
type conn struct {
	srv *Server
	nc  net.Conn
	id  uint64
	lg  *slog.Logger // built on first use: most connections log nothing
	r   *milter.Reader

	wmu sync.Mutex // guards w and inEOM: the progress timer writes too
	w   *milter.Writer

	inEOM         bool        // end of message is running: progress may be sent
	progressTimer *time.Timer // created on the first end of message

	neg    negotiated
	needs  filter.Needs
	macros macroStore
	sess   filter.Session
	// per message: the filter answered Skip to a body chunk.
	skipBody bool

	stateMu   sync.Mutex
	inSession bool // between the first stage command and QUIT/QUIT_NC
	draining  bool
}

func newConn(s *Server, nc net.Conn) *conn {
	id := connSeq.Add(1)
	return &conn{
		srv: s,
		nc:  nc,
		id:  id,
		r:   milter.NewReader(nc, s.opts.MaxPacket),
		w:   milter.NewWriter(nc),
	}
}

// log returns the connection's logger, with its ID and peer, building it
// on first use (from the connection's own goroutine only).
func (c *conn) log() *slog.Logger {
	if c.lg == nil {
		c.lg = c.srv.opts.Logger.With("milter_conn", c.id, "remote", remoteName(c.nc))
	}
	return c.lg
}

// debug logs at debug level without building the logger when that level
// is off.
func (c *conn) debug(msg string, args ...any) {
	if c.srv.opts.Logger.Enabled(context.Background(), slog.LevelDebug) {
		c.log().Debug(msg, args...)
	}
}

func remoteName(nc net.Conn) string {
	if a := nc.RemoteAddr(); a != nil && a.String() != "" {
		return a.String()
	}
	return "unix"
}

// drain asks the connection to end as soon as it is between SMTP sessions.
func (c *conn) drain() {
	c.stateMu.Lock()
	defer c.stateMu.Unlock()
	c.draining = true
	if !c.inSession {
		c.nc.SetReadDeadline(time.Now())
	}
}

func (c *conn) setInSession(v bool) (draining bool) {
	c.stateMu.Lock()
	defer c.stateMu.Unlock()
	c.inSession = v
	if !v && c.draining {
		return true
	}
	return false
}

func (c *conn) serve(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer c.nc.Close()
	defer c.closeSession(ctx)
	defer c.stopKeepAlive()
	err := c.handshake()
	if err == nil {
		err = c.loop(ctx)
	}
	switch {
	case err == nil, errors.Is(err, errQuit), errors.Is(err, errPanic):
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		c.debug("milter connection closed by MTA")
	case errors.Is(err, os.ErrDeadlineExceeded) && c.isDraining():
		c.debug("milter connection closed for shutdown")
	default:
		c.log().Warn("milter connection ended", "err", err)
	}
}

func (c *conn) isDraining() bool {
	c.stateMu.Lock()
	defer c.stateMu.Unlock()
	return c.draining
}

// readPacket reads the next packet. The read deadline is set only when
// the reader has nothing buffered: a pipelined burst of packets costs one
// deadline, not one per packet.
func (c *conn) readPacket() (milter.Packet, error) {
	if c.r.Buffered() == 0 {
		c.nc.SetReadDeadline(time.Now().Add(c.srv.opts.ReadTimeout))
	}
	c.stateMu.Lock()
	if c.draining && !c.inSession {
		c.stateMu.Unlock()
		return milter.Packet{}, errQuit
	}
	c.stateMu.Unlock()
	return c.r.ReadPacket()
}

func (c *conn) read() (milter.Command, error) {
	p, err := c.readPacket()
	if err != nil {
		return nil, err
	}
	return milter.DecodeCommand(p)
}

// handshake reads the MTA's option negotiation and answers it.
func (c *conn) handshake() error {
	cmd, err := c.read()
	if err != nil {
		return fmt.Errorf("reading option negotiation: %w", err)
	}
	mta, ok := cmd.(milter.OptNeg)
	if !ok {
		return fmt.Errorf("MTA sent %v before option negotiation", cmd)
	}
	c.needs = c.srv.filter.Needs()
	neg, reply, err := negotiate(mta, c.needs, c.srv.opts.MaxPacket)
	if err != nil {
		return err
	}
	c.neg = neg
	c.debug("milter negotiated", "version", neg.version, "actions", neg.actions, "protocol", neg.protocol)
	return c.send(reply)
}

// send writes one response and flushes it.
func (c *conn) send(resp milter.Response) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.nc.SetWriteDeadline(time.Now().Add(c.srv.opts.WriteTimeout))
	if err := c.w.WritePacket(resp.Encode()); err != nil {
		return err
	}
	return c.w.Flush()
}

func (c *conn) loop(ctx context.Context) error {
	for {
		p, err := c.readPacket()
		if err != nil {
			return err
		}
		if err := c.handle(ctx, p); err != nil {
			return err
		}
	}
}

// handle takes macros and body chunks straight from the packet, without
// decoding them into values (they are most of the traffic); everything
// else goes through the codec.
func (c *conn) handle(ctx context.Context, p milter.Packet) error {
	switch p.Code {
	case milter.CmdMacro:
		stage, pairs, err := milter.ScanMacro(p)
		if err != nil {
			return err
		}
		c.macros.set(stage, pairs)
		return nil
	case milter.CmdBody:
		return c.body(ctx, p.Data)
	case milter.CmdEndOfBody:
		return c.endOfMessage(ctx, p.Data)
	}
	cmd, err := milter.DecodeCommand(p)
	if err != nil {
		return err
	}
	return c.dispatch(ctx, cmd)
}

// session returns the filter session, opening it on the first stage of an
// SMTP session.
func (c *conn) session(ctx context.Context) (filter.Session, error) {
	if c.sess != nil {
		return c.sess, nil
	}
	c.setInSession(true)
	sess, err := c.srv.filter.NewSession(ctx, &c.macros)
	if err != nil {
		return nil, fmt.Errorf("opening filter session: %w", err)
	}
	c.sess = sess
	return sess, nil
}

func (c *conn) closeSession(ctx context.Context) {
	if c.sess == nil {
		return
	}
	sess := c.sess
	c.sess = nil
	c.guard(ctx, func() { sess.Close(ctx) })
}

// guard runs fn, turning a panic into an error that is logged once.
func (c *conn) guard(ctx context.Context, fn func()) (err error) {
	defer func() {
		if p := recover(); p != nil {
			c.log().Error("filter panicked; closing the milter session", "panic", p, "stack", string(debug.Stack()))
			err = errPanic
		}
	}()
	fn()
	return nil
}
