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
	srv  *Server
	opts *Options   // the server's options when the connection was accepted
	fref *filterRef // the server's filter then; set by Server.addConn
	nc   net.Conn
	id   uint64
	lg   *slog.Logger // built on first use: most connections log nothing
	r    *milter.Reader
	in   inReader // r's source when the socket allows it

	wmu sync.Mutex // serializes writes and guards inEOM: the progress timer writes too

	readDL  time.Time // the read deadline last set (conn goroutine only)
	writeDL time.Time // the write deadline last set (under wmu)

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

func newConn(s *Server, nc net.Conn, opts *Options) *conn {
	c := &conn{srv: s, opts: opts, nc: nc, id: connSeq.Add(1)}
	c.r = c.newPacketReader(opts.MaxPacket)
	return c
}

// log returns the connection's logger, with its ID and peer, building it
// on first use (from the connection's own goroutine only).
func (c *conn) log() *slog.Logger {
	if c.lg == nil {
		c.lg = c.opts.Logger.With("milter_conn", c.id, "remote", remoteName(c.nc))
	}
	return c.lg
}

// debug logs at debug level without building the logger when that level
// is off.
func (c *conn) debug(msg string, args ...any) {
	if c.opts.Logger.Enabled(context.Background(), slog.LevelDebug) {
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
	defer c.in.release()
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
	if c.buffered() == 0 {
		c.armRead(false)
	}
	c.stateMu.Lock()
	draining, inSession := c.draining, c.inSession
	c.stateMu.Unlock()
	if draining {
		if !inSession {
			return milter.Packet{}, errQuit
		}
		// drain may have moved the deadline just before this session began
		if c.buffered() == 0 {
			c.armRead(true)
		}
	}
	return c.r.ReadPacket()
}

// deadlineSlack is how far a deadline may lag behind its exact value:
// moving a deadline costs a timer update in the runtime, so packets that
// follow each other closely share one. The wait is then bounded by the
// timeout less at most this (an eighth of it, at most a second).
func deadlineSlack(timeout time.Duration) time.Duration {
	return min(timeout/8, time.Second)
}

// armRead moves the read deadline to ReadTimeout from now, unless it is
// already within deadlineSlack of that (and force is false).
func (c *conn) armRead(force bool) {
	d := time.Now().Add(c.opts.ReadTimeout)
	if force || d.Sub(c.readDL) > deadlineSlack(c.opts.ReadTimeout) {
		c.nc.SetReadDeadline(d)
		c.readDL = d
	}
}

// armWrite is armRead for writes; c.wmu must be held.
func (c *conn) armWrite() {
	d := time.Now().Add(c.opts.WriteTimeout)
	if d.Sub(c.writeDL) > deadlineSlack(c.opts.WriteTimeout) {
		c.nc.SetWriteDeadline(d)
		c.writeDL = d
	}
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
	c.needs = c.fref.needs
	neg, reply, err := c.fref.negotiate(mta, c.opts.MaxPacket)
	if err != nil {
		return err
	}
	c.neg = neg
	c.debug("milter negotiated", "version", neg.version, "actions", neg.actions, "protocol", neg.protocol)
	return c.sendPacket(reply)
}

// send writes one response and flushes it.
func (c *conn) send(resp milter.Response) error {
	return c.sendPacket(resp.Encode())
}

func (c *conn) sendPacket(p milter.Packet) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.writeLocked(func(w *milter.Writer) error { return w.WritePacket(p) })
}

// writeLocked lets fn write packets into a pooled buffer and flushes it,
// under a fresh write deadline. c.wmu must be held.
func (c *conn) writeLocked(fn func(*milter.Writer) error) error {
	ob := c.srv.pools.getOut(c.nc)
	c.armWrite()
	err := fn(ob.w)
	if err == nil {
		err = ob.w.Flush()
	}
	c.srv.pools.putOut(ob, err)
	return err
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
	sess, err := c.fref.f.NewSession(ctx, &c.macros)
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
