package milterclient

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/sluice-mta/sluice/filter"
	"github.com/sluice-mta/sluice/milter"
)

// Milter is a filter.Filter backed by an external milter. It is safe for
// concurrent use: each SMTP connection gets its own Session and its own
// milter connection.
type Milter struct {
	opts             Options
	network, address string
	log              *slog.Logger
	breaker          *breaker
	macros           [numStages][]string // wire names per stage from Options.Macros
	needs            filter.Needs
	chunkPools       [3]sync.Pool // body buffers per negotiated chunk size
	pool             *pool        // idle connections (Options.MaxIdleConns)
}

var (
	_ filter.Filter = (*Milter)(nil)
	_ filter.Named  = (*Milter)(nil)
)

// New returns a client for the milter at opts.Address. It does not
// connect: each NewSession does.
func New(opts Options) (*Milter, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	network, address, err := ParseAddress(opts.Address)
	if err != nil {
		return nil, fmt.Errorf("milterclient: milter %s: %w", opts.Name, err)
	}
	m := &Milter{
		opts:    opts,
		network: network,
		address: address,
		log:     opts.Logger.With("milter", opts.Name),
		breaker: newBreaker(opts.Breaker),
	}
	macros := opts.Macros
	if macros == nil {
		macros = filter.DefaultMacros()
	}
	for st, names := range macros {
		if int(st) >= numStages {
			return nil, fmt.Errorf("milterclient: milter %s: macros for unknown stage %d", opts.Name, st)
		}
		m.macros[st] = wireNames(names)
	}
	m.needs = m.computeNeeds()
	m.pool = newPool(m)
	return m, nil
}

// Close closes the idle milter connections (Options.MaxIdleConns) with
// SMFIC_QUIT. Sessions still open go on; their connections are closed,
// not kept, when they end. The Milter still opens sessions after Close,
// without keeping their connections. It always returns nil.
func (m *Milter) Close() error {
	m.pool.close()
	return nil
}

// Name implements filter.Named.
func (m *Milter) Name() string { return m.opts.Name }

// Needs implements filter.Filter. What a milter wants is only known once
// it has answered option negotiation, and it may change when the milter
// restarts, so Needs is conservative and fixed: every stage, a reply to
// every stage (the session answers Continue without asking for the stages
// the milter skips or does not answer), every edit the offered actions
// permit (and quarantine when that is the default action), rejected
// recipients when SMFIP_RCPT_REJ is offered, and header values verbatim
// (the session removes the leading space for milters that did not ask for
// SMFIP_HDR_LEADSPC). Macros is Options.Macros. Negotiate tells what a
// running milter actually wants.
func (m *Milter) Needs() filter.Needs {
	n := m.needs
	if n.Macros != nil {
		n.Macros = cloneMacros(n.Macros)
	}
	return n
}

func (m *Milter) computeNeeds() filter.Needs {
	n := filter.Needs{
		Edits:              editsFor(m.opts.Actions),
		RejectedRecipients: m.opts.Protocol&milter.ProtoRcptRej != 0,
		HeaderLeadingSpace: true,
	}
	if m.opts.DefaultAction == Quarantine {
		n.Edits |= filter.EditQuarantine
	}
	// A milter offered SETSYMLIST may ask for any macro: then the MTA
	// side must provide them all (nil).
	if m.opts.Macros != nil && (m.opts.Actions&milter.ActSetSymList == 0 || m.opts.Version < 6) {
		n.Macros = cloneMacros(m.opts.Macros)
	}
	return n
}

func cloneMacros(in map[filter.Stage][]string) map[filter.Stage][]string {
	out := make(map[filter.Stage][]string, len(in))
	for st, names := range in {
		out[st] = append([]string(nil), names...)
	}
	return out
}

// NewSession implements filter.Filter: it connects to the milter and
// negotiates options, or takes an idle connection (Options.MaxIdleConns;
// one still open is taken even while the circuit breaker is open).
// It does not fail: when the milter cannot be reached (or the circuit
// breaker is open, or ctx ends), the session applies the default action
// from its first stage on, and Session.Err says why. The macros are read
// at each stage for the values to send.
func (m *Milter) NewSession(ctx context.Context, macros filter.Macros) (filter.Session, error) {
	return m.Open(ctx, macros), nil
}

// Open is NewSession with its concrete type.
func (m *Milter) Open(ctx context.Context, macros filter.Macros) *Session {
	if macros == nil {
		macros = filter.NoMacros
	}
	s := &Session{m: m, macros: macros, log: m.log}
	if ic, ok := m.pool.get(); ok {
		ic.c.handOut(true)
		s.c, s.neg, s.reused, s.quitNC = ic.c, ic.neg, true, ic.quitNC
		return s
	}
	c, neg, err := m.connect(ctx, func(err error) { s.fail(filter.StageConnect, err) })
	if errors.Is(err, ErrCircuitOpen) {
		s.err = err // not logged for every session
	}
	s.c, s.neg = c, neg
	return s
}

// connect opens a new connection, through the circuit breaker. onFail,
// when not nil, is called with the failure (but ErrCircuitOpen) before
// the breaker logs any change.
func (m *Milter) connect(ctx context.Context, onFail func(error)) (*wireConn, *negotiated, error) {
	ok, probe := m.breaker.allow(m.opts.Clock.Now())
	if !ok {
		return nil, nil, ErrCircuitOpen
	}
	c, neg, err := m.open(ctx)
	if err != nil && onFail != nil {
		onFail(err)
	}
	switch {
	case err == nil:
		if m.breaker.success(probe) {
			m.log.Info("milter reachable again; circuit closed")
		}
	case ctx.Err() != nil:
		m.breaker.release(probe)
	default:
		if m.breaker.failure(m.opts.Clock.Now(), probe) {
			m.log.Warn("milter circuit open: sessions get the default action without dialing",
				"failures", m.opts.Breaker.Failures, "open_for", m.opts.Breaker.OpenFor,
				"default_action", m.opts.DefaultAction.String())
		}
	}
	return c, neg, err
}

// open dials the milter and negotiates.
func (m *Milter) open(ctx context.Context) (*wireConn, *negotiated, error) {
	dctx, cancel := context.WithTimeout(ctx, m.opts.ConnectTimeout)
	nc, err := m.opts.Dialer.DialContext(dctx, m.network, m.address)
	timedOut := dctx.Err() != nil && ctx.Err() == nil
	cancel()
	switch {
	case err != nil && timedOut:
		// Our own timeout, not the caller's context: say so without
		// wrapping context.DeadlineExceeded.
		return nil, nil, fmt.Errorf("connecting to %s: no connection within %v", m.opts.Address, m.opts.ConnectTimeout)
	case err != nil:
		return nil, nil, fmt.Errorf("connecting to %s: %w", m.opts.Address, err)
	}
	c := newWireConn(nc, m.opts.Trace)
	neg, err := m.negotiate(ctx, c)
	if err != nil {
		c.close()
		return nil, nil, err
	}
	c.handOut(false)
	return c, neg, nil
}

// Negotiate connects to the milter, negotiates options, and quits: it
// tells what the milter wants (stages, replies, edits, macros). It does
// not involve the circuit breaker.
func (m *Milter) Negotiate(ctx context.Context) (Negotiation, error) {
	c, neg, err := m.open(ctx)
	if err != nil {
		return Negotiation{}, fmt.Errorf("milter %s: %w", m.opts.Name, err)
	}
	defer c.close()
	c.begin(m.opts.CommandTimeout)
	if err := c.send(milter.Quit{}, false); err == nil {
		c.flush(milter.CmdQuit)
	}
	return neg.Negotiation, nil
}

// chunkBuffer returns a body buffer with capacity size from the pool.
func (m *Milter) chunkBuffer(size int) []byte {
	p := &m.chunkPools[poolIndex(size)]
	if b, ok := p.Get().(*[]byte); ok && cap(*b) >= size {
		return (*b)[:0]
	}
	return make([]byte, 0, size)
}

func (m *Milter) putChunkBuffer(b []byte) {
	if cap(b) == 0 {
		return
	}
	b = b[:0]
	m.chunkPools[poolIndex(cap(b))].Put(&b)
}

func poolIndex(size int) int {
	switch {
	case size > milter.ChunkSize256K:
		return 2
	case size > milter.ChunkSize:
		return 1
	}
	return 0
}
