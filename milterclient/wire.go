package milterclient

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/sluice-mta/sluice/milter"
)

// errStray reports bytes from the milter that no command asked for: a
// reply to a no-reply step, or a second reply to one command.
var errStray = errors.New("milter sent a reply nobody asked for (to a no-reply step, or a second reply)")

// maxProgressFactor bounds how far SMFIR_PROGRESS may stretch one wait:
// to this many times the stage's timeout in all.
const maxProgressFactor = 10

// wireConn is the connection to one milter: a buffered packet reader and
// writer over a net.Conn, with deadlines. It is used by one goroutine.
type wireConn struct {
	nc    net.Conn
	br    *bufio.Reader
	r     *milter.Reader
	w     *milter.Writer
	trace func(Trace)
	// noReplySent: a command that gets no reply was sent on this
	// connection, so a misbehaving milter may answer it. Such an answer
	// comes before the replies that follow, so it is read as one of them
	// and the real one arrives later: the socket is then checked before
	// every exchange.
	noReplySent bool
	// unflushedNoReply: such a command waits in the write buffer.
	unflushedNoReply bool

	// Since the connection was handed to its current session:
	dirty   bool // a packet was sent
	replied bool // a reply was read
	// recording: the packets sent are kept in replay, so that they can be
	// sent again on a new connection if the milter closes this one
	// before it answers anything (see Session.redial). On for a reused
	// connection until the first reply, or until replay would exceed
	// maxReplay.
	recording bool
	replay    []byte
}

// maxReplay bounds what a session on a reused connection keeps to send
// again on a new connection: the macros and commands before the first
// reply are a few hundred bytes (more with many recipients to a milter
// that skips them); beyond this the session does not redial.
const maxReplay = 16 << 10

func newWireConn(nc net.Conn, trace func(Trace)) *wireConn {
	br := bufio.NewReaderSize(nc, 4096)
	return &wireConn{
		nc:    nc,
		br:    br,
		r:     milter.NewReader(br, milter.DefaultMaxPacket),
		w:     milter.NewWriter(nc),
		trace: trace,
	}
}

// watch makes a cancelled ctx break any blocked read or write. stop must
// be called when the operation is over; it returns ctx's error when the
// context ended during the operation.
func (c *wireConn) watch(ctx context.Context) (stop func() error) {
	if ctx.Done() == nil {
		return func() error { return nil }
	}
	if err := ctx.Err(); err != nil {
		c.nc.SetDeadline(time.Unix(1, 0))
		return func() error { return err }
	}
	unwatch := context.AfterFunc(ctx, func() { c.nc.SetDeadline(time.Unix(1, 0)) })
	return func() error {
		if !unwatch() {
			return ctx.Err()
		}
		return nil
	}
}

// begin sets the deadline for the next exchange.
func (c *wireConn) begin(timeout time.Duration) {
	c.nc.SetDeadline(time.Now().Add(timeout))
}

// send buffers a command. A command without reply marks the connection so
// that a stray answer to it is looked for before the next exchange.
func (c *wireConn) send(cmd milter.Command, noReply bool) error {
	if c.trace != nil {
		c.trace(Trace{Command: cmd})
	}
	p := cmd.Encode()
	if err := c.w.WritePacket(p); err != nil {
		return writeError(err, cmd.Code())
	}
	c.dirty = true
	if c.recording {
		c.record(p)
	}
	if noReply {
		c.unflushedNoReply = true
	}
	return nil
}

// flush writes what is buffered; cmd names the last command for errors.
func (c *wireConn) flush(cmd byte) error {
	if c.w.Buffered() == 0 {
		return nil
	}
	if err := c.w.Flush(); err != nil {
		return writeError(err, cmd)
	}
	if c.unflushedNoReply {
		c.noReplySent, c.unflushedNoReply = true, false
	}
	return nil
}

// checkQuiet fails when the milter sent something nobody asked for. It is
// called before each exchange and after the final reply at end of
// message: bytes already buffered are proof; once a no-reply command was
// sent, a non-blocking peek at the socket catches what has arrived since.
func (c *wireConn) checkQuiet() error {
	if c.br.Buffered() > 0 {
		return errStray
	}
	if c.noReplySent && pending(c.nc) {
		return errStray
	}
	return nil
}

// readReply reads the reply to cmd, skipping SMFIR_PROGRESS: each
// restarts the timer, up to maxProgressFactor times timeout in all, and
// calls onProgress when it is not nil.
func (c *wireConn) readReply(cmd byte, timeout time.Duration, onProgress func()) (milter.Response, error) {
	start := time.Now()
	limit := start.Add(maxProgressFactor * timeout)
	progressed := false
	for {
		if c.br.Buffered() == 0 {
			quickAck(c.nc)
		}
		p, err := c.r.ReadPacket()
		if err != nil {
			if now := time.Now(); progressed && !now.Before(limit) && errors.Is(err, os.ErrDeadlineExceeded) {
				return nil, fmt.Errorf("still no reply to %s after %v of SMFIR_PROGRESS: %w", milter.CommandName(cmd), now.Sub(start).Round(time.Millisecond), err)
			}
			return nil, readError(err, cmd, timeout)
		}
		resp, err := decodeReply(p)
		if err != nil {
			return nil, fmt.Errorf("bad reply to %s: %w", milter.CommandName(cmd), err)
		}
		if c.trace != nil {
			c.trace(Trace{Response: resp})
		}
		c.answered()
		if _, ok := resp.(milter.Progress); !ok {
			return resp, nil
		}
		progressed = true
		now := time.Now()
		if !now.Before(limit) {
			return nil, fmt.Errorf("still no reply to %s after %v of SMFIR_PROGRESS", milter.CommandName(cmd), now.Sub(start).Round(time.Millisecond))
		}
		next := now.Add(timeout)
		if next.After(limit) {
			next = limit
		}
		c.nc.SetReadDeadline(next)
		if onProgress != nil {
			onProgress()
		}
	}
}

// readError describes a failed read for logs.
func readError(err error, cmd byte, timeout time.Duration) error {
	name := milter.CommandName(cmd)
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Errorf("no reply to %s within %v: %w", name, timeout, err)
	case closedByPeer(err):
		return fmt.Errorf("milter closed the connection waiting for the reply to %s: %w", name, err)
	}
	return fmt.Errorf("reading the reply to %s: %w", name, err)
}

// writeError describes a failed write for logs.
func writeError(err error, cmd byte) error {
	name := milter.CommandName(cmd)
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Errorf("timed out sending %s: %w", name, err)
	case closedByPeer(err):
		return fmt.Errorf("milter closed the connection before %s: %w", name, err)
	}
	return fmt.Errorf("sending %s: %w", name, err)
}

func closedByPeer(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

func (c *wireConn) close() error { return c.nc.Close() }

// record keeps packet p, framed as on the wire, for a replay.
func (c *wireConn) record(p milter.Packet) {
	if len(c.replay)+5+len(p.Data) > maxReplay {
		c.recording, c.replay = false, c.replay[:0]
		return
	}
	c.replay = binary.BigEndian.AppendUint32(c.replay, uint32(len(p.Data)+1))
	c.replay = append(append(c.replay, p.Code), p.Data...)
}

// answered notes a reply: the connection is known to work, nothing is
// replayed any more.
func (c *wireConn) answered() {
	c.replied = true
	if c.recording {
		c.recording, c.replay = false, c.replay[:0]
	}
}

// handOut readies the connection for a new session; record starts a
// recording for a replay.
func (c *wireConn) handOut(record bool) {
	c.dirty, c.replied, c.unflushedNoReply = false, false, false
	c.recording, c.replay = record, c.replay[:0]
}

// recorded is the length of the recording so far, or -1 when there is
// none to replay.
func (c *wireConn) recorded() int {
	if !c.recording {
		return -1
	}
	return len(c.replay)
}

// clean reports whether nothing waits to be written or read.
func (c *wireConn) clean() bool {
	return c.w.Buffered() == 0 && c.br.Buffered() == 0
}
