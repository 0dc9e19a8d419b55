package smtpclient

import (
	"context"
	"time"

	"github.com/sluice-mta/sluice/envelope"
)

// sessionFor returns a session ready for m's transaction: an idle one that
// still answers RSET and can take m's client identity, or a new one.
func (c *Client) sessionFor(ctx context.Context, m *envelope.Delivery) (*session, error) {
	for {
		s, err := c.takeIdle()
		if err != nil {
			return nil, err
		}
		if s == nil {
			break
		}
		if c.reuse(ctx, s, m) {
			return s, nil
		}
	}
	s, err := c.open(ctx)
	if err != nil {
		return nil, err
	}
	stop := s.watch(ctx)
	_, err = s.adopt(m)
	if !stop() && err == nil {
		err = &ioError{stageXClient, context.Cause(ctx)}
	}
	if err != nil {
		s.quit()
		return nil, err
	}
	return s, nil
}

// reuse readies an idle session for m; it closes the session and reports
// false when it cannot serve.
func (c *Client) reuse(ctx context.Context, s *session, m *envelope.Delivery) bool {
	stop := s.watch(ctx)
	rep, err := s.cmd(stageRset, "RSET")
	ok := err == nil && rep.Code == 250
	if ok {
		ok, err = s.adopt(m)
		ok = ok && err == nil
	}
	if !stop() || !ok {
		s.quit()
		return false
	}
	return true
}

// takeIdle pops the most recently used idle session that has not
// expired, closing the expired ones.
func (c *Client) takeIdle() (*session, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, deferred("4.4.2", "%v", errClosed)
	}
	var s *session
	var expired []*session
	for len(c.idle) > 0 && s == nil {
		last := c.idle[len(c.idle)-1]
		c.idle = c.idle[:len(c.idle)-1]
		if time.Since(last.idle) >= c.opts.IdleTimeout {
			expired = append(expired, last)
		} else {
			s = last
		}
	}
	c.mu.Unlock()
	for _, e := range expired {
		e.quit()
	}
	return s, nil
}

// release keeps s for reuse, or ends it when it is broken, has done its
// share of messages, reuse is off, or the client is closed.
func (c *Client) release(s *session) {
	keep := !s.broken && c.opts.IdleTimeout > 0 && s.messages < c.opts.MaxMessagesPerConn
	c.mu.Lock()
	if keep && !c.closed {
		s.idle = time.Now()
		c.idle = append(c.idle, s)
		if c.reaper == nil {
			c.reaper = time.AfterFunc(c.opts.IdleTimeout, c.reap)
		} else if len(c.idle) == 1 {
			c.reaper.Reset(c.opts.IdleTimeout)
		}
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	s.quit()
}

// reap closes the sessions idle for IdleTimeout and re-arms the timer for
// the rest.
func (c *Client) reap() {
	c.mu.Lock()
	var expired, kept []*session
	for _, s := range c.idle {
		if time.Since(s.idle) >= c.opts.IdleTimeout {
			expired = append(expired, s)
		} else {
			kept = append(kept, s)
		}
	}
	c.idle = kept
	if len(kept) > 0 && !c.closed {
		c.reaper.Reset(c.opts.IdleTimeout - time.Since(kept[0].idle))
	}
	c.mu.Unlock()
	for _, s := range expired {
		s.quit()
	}
}
