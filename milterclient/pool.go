package milterclient

import (
	"sync"
	"time"

	"github.com/sluice-mta/sluice/milter"
)

// reuseSupport is what the client has learnt of a milter's handling of
// SMFIC_QUIT_NC.
type reuseSupport uint8

const (
	reuseUnknown     reuseSupport = iota // no reused connection has answered yet
	reuseWorks                           // a reused connection answered
	reuseUnsupported                     // the milter closed a connection after SMFIC_QUIT_NC
)

// idleConn is a milter connection between two SMTP connections.
type idleConn struct {
	c   *wireConn
	neg *negotiated
	// quitNC: SMFIC_QUIT_NC was sent on it (it is not a connection that
	// no session used since option negotiation).
	quitNC bool
	since  time.Time
}

// pool keeps idle milter connections for later SMTP connections
// (Options.MaxIdleConns). The most recently used connection is handed out
// first, so the others age and are closed after Options.IdleTimeout.
type pool struct {
	m       *Milter
	max     int
	timeout time.Duration

	mu      sync.Mutex
	idle    []idleConn // oldest first
	closed  bool
	support reuseSupport
	reaper  *time.Timer // runs when the oldest idle connection expires
}

func newPool(m *Milter) *pool {
	return &pool{m: m, max: m.opts.MaxIdleConns, timeout: m.opts.IdleTimeout}
}

// accepts reports whether a connection given back now could be kept.
func (p *pool) accepts() bool {
	if p.max <= 0 {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return !p.closed && p.support != reuseUnsupported && len(p.idle) < p.max
}

// get returns an idle connection that is still open, or ok false. Idle
// connections the milter closed (or that hold bytes nobody asked for) are
// closed and skipped.
func (p *pool) get() (ic idleConn, ok bool) {
	if p.max <= 0 {
		return idleConn{}, false
	}
	for range p.max + 1 {
		p.mu.Lock()
		n := len(p.idle)
		if n == 0 || p.closed {
			p.mu.Unlock()
			return idleConn{}, false
		}
		ic = p.idle[n-1]
		p.idle[n-1] = idleConn{}
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		if time.Since(ic.since) >= p.timeout {
			p.quit(ic)
			continue
		}
		if !peerGone(ic.c.nc) {
			return ic, true
		}
		if ic.quitNC {
			p.failed("the milter closed an idle connection after SMFIC_QUIT_NC")
		}
		ic.c.close()
	}
	return idleConn{}, false
}

// put keeps c for a later SMTP connection and reports whether it did;
// when not, the caller closes c.
func (p *pool) put(c *wireConn, neg *negotiated, quitNC bool) bool {
	c.nc.SetDeadline(time.Time{}) // peerGone cannot peek past a deadline
	c.handOut(false)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.support == reuseUnsupported || len(p.idle) >= p.max {
		return false
	}
	p.idle = append(p.idle, idleConn{c: c, neg: neg, quitNC: quitNC, since: time.Now()})
	if p.reaper == nil {
		p.reaper = time.AfterFunc(p.timeout, p.reap)
	}
	return true
}

// reap closes the idle connections that have expired and waits for the
// next one to.
func (p *pool) reap() {
	p.mu.Lock()
	p.reaper = nil
	if p.closed {
		p.mu.Unlock()
		return
	}
	now := time.Now()
	i := 0
	for i < len(p.idle) && now.Sub(p.idle[i].since) >= p.timeout {
		i++
	}
	expired := append([]idleConn(nil), p.idle[:i]...)
	p.idle = append(p.idle[:0], p.idle[i:]...)
	if len(p.idle) > 0 {
		p.reaper = time.AfterFunc(p.idle[0].since.Add(p.timeout).Sub(now), p.reap)
	}
	p.mu.Unlock()
	for _, ic := range expired {
		p.quit(ic)
	}
}

// worked records that a reused connection answered: the milter supports
// SMFIC_QUIT_NC.
func (p *pool) worked() {
	p.mu.Lock()
	first := p.support == reuseUnknown
	if first {
		p.support = reuseWorks
	}
	p.mu.Unlock()
	if first {
		p.m.log.Debug("milter answered on a reused connection: connections are reused across SMTP connections")
	}
}

// failed records that the milter closed a connection after SMFIC_QUIT_NC.
// Unless a reused connection ever answered, the milter is taken not to
// support SMFIC_QUIT_NC (one that does not know the command closes the
// connection on it): no connection is kept from now on.
func (p *pool) failed(what string) {
	p.mu.Lock()
	if p.support != reuseUnknown {
		p.mu.Unlock()
		return
	}
	p.support = reuseUnsupported
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	p.m.log.Warn("milter does not support SMFIC_QUIT_NC: connections are no longer reused, each SMTP connection gets its own",
		"detail", what)
	for _, ic := range idle {
		ic.c.close()
	}
}

// close closes the idle connections; connections given back later are
// not kept.
func (p *pool) close() {
	p.mu.Lock()
	p.closed = true
	idle := p.idle
	p.idle = nil
	if p.reaper != nil {
		p.reaper.Stop()
		p.reaper = nil
	}
	p.mu.Unlock()
	for _, ic := range idle {
		p.quit(ic)
	}
}

// quit ends an idle connection with SMFIC_QUIT, as an unpooled session
// does. It is not traced: Options.Trace is called from sessions'
// goroutines only.
func (p *pool) quit(ic idleConn) {
	ic.c.begin(p.m.opts.CommandTimeout)
	if ic.c.w.WritePacket(milter.Quit{}.Encode()) == nil {
		ic.c.w.Flush()
	}
	ic.c.close()
}
