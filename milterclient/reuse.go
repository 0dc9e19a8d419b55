package milterclient

import (
	"context"
	"fmt"
	"slices"

	"github.com/sluice-mta/sluice/milter"
)

// The session side of connection reuse across SMTP connections: how a
// session ends (and leaves its connection idle), and how it recovers
// when the milter closed the connection it was given.

// Close implements filter.Session. It may be called more than once.
//
// Without Options.MaxIdleConns it sends SMFIC_QUIT and closes the milter
// connection. With it, the connection is kept for a later SMTP connection
// when the milter is in a known state between SMTP connections: the
// session ended right after end of message with the milter's
// SMFIR_CONTINUE (libmilter ignores SMFIC_QUIT_NC in any other state, and
// then the next SMFIC_CONNECT too), or nothing was sent on the
// connection; the pool has room; and the milter speaks protocol version
// 6. The session then sends SMFIC_QUIT_NC (unless nothing was sent). A
// connection that failed (timeout, protocol error, closed), a session that
// ended inside a transaction or after any other reply, quit as without
// reuse.
func (s *Session) Close(ctx context.Context) {
	if s.closed {
		return
	}
	s.closed = true
	if s.c != nil {
		s.release(ctx)
	}
	s.m.putChunkBuffer(s.body)
	s.body = nil
	if s.spool != nil {
		s.spool.reset()
	}
}

// release keeps the milter connection for a later session, or quits it.
func (s *Session) release(ctx context.Context) {
	c := s.c
	s.c = nil
	if ctx.Err() == nil && s.neg.Version >= 6 && c.clean() && s.m.pool.accepts() {
		switch {
		case !c.dirty:
			if s.m.pool.put(c, s.neg, s.quitNC) {
				return
			}
		case s.atRest:
			if s.quitNewConn(ctx, c) == nil && s.m.pool.put(c, s.neg, true) {
				return
			}
			c.close() // no SMFIC_QUIT after SMFIC_QUIT_NC
			return
		}
	}
	stop := c.watch(ctx)
	c.begin(s.m.opts.CommandTimeout)
	if err := c.send(milter.Quit{}, false); err == nil {
		c.flush(milter.CmdQuit)
	}
	stop()
	c.close()
}

// quitNewConn sends SMFIC_QUIT_NC: the milter ends its session and waits
// for the next SMFIC_CONNECT on the same connection.
func (s *Session) quitNewConn(ctx context.Context, c *wireConn) error {
	stop := c.watch(ctx)
	c.begin(s.m.opts.CommandTimeout)
	err := c.send(milter.QuitNewConn{}, false)
	if err == nil {
		err = c.flush(milter.CmdQuitNewConn)
	}
	if cerr := stop(); cerr != nil && err == nil {
		err = cerr
	}
	return err
}

// redial replaces a reused connection that the milter closed before it
// answered anything of this session, which is what a milter that does
// not know SMFIC_QUIT_NC does. It reports the milter to the pool when the
// connection was left with SMFIC_QUIT_NC (the pool stops reusing
// connections unless one ever answered), connects anew,
// checks that the milter negotiated the same as on the old connection,
// and sends again what the session had sent before mark (macros and
// commands the milter skips or does not answer; -1 when too much to
// keep). When it reports true the caller runs the failed exchange again;
// when not, err (with what went wrong on the way) is the session's
// failure.
func (s *Session) redial(ctx context.Context, err error, mark int) (bool, error) {
	old := s.c
	if old.replied || !closedByPeer(err) || ctx.Err() != nil || s.redialed {
		return false, err
	}
	s.reused, s.redialed = false, true
	if s.quitNC {
		s.m.pool.failed("the milter closed a reused connection before answering: " + err.Error())
	}
	if mark < 0 {
		return false, err
	}
	prefix := old.replay[:mark]
	old.close()
	s.c = nil
	c, neg, derr := s.m.connect(ctx, nil)
	if derr != nil {
		return false, fmt.Errorf("%w; then %w", err, derr)
	}
	if !neg.same(s.neg) {
		c.close()
		return false, fmt.Errorf("%w; on a new connection the milter negotiated something else", err)
	}
	if len(prefix) > 0 {
		c.begin(s.m.opts.CommandTimeout)
		if _, werr := c.nc.Write(prefix); werr != nil {
			c.close()
			return false, fmt.Errorf("%w; then %w", err, writeError(werr, prefix[4]))
		}
		c.noReplySent, c.dirty = true, true
	}
	s.log.Debug("milter closed a reused connection before answering; session moved to a new connection",
		"replayed_bytes", len(prefix))
	s.c, s.neg = c, neg
	return true, nil
}

// same reports whether two negotiations agree on everything that shapes
// the packets sent.
func (n *negotiated) same(o *negotiated) bool {
	if n.Version != o.Version || n.Actions != o.Actions || n.Protocol != o.Protocol || n.maxChunk != o.maxChunk {
		return false
	}
	for st := range n.macros {
		if !slices.Equal(n.macros[st], o.macros[st]) {
			return false
		}
	}
	return true
}
