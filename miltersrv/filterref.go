package miltersrv

import (
	"io"
	"log/slog"
	"sync/atomic"

	"github.com/sluice-mta/sluice/filter"
	"github.com/sluice-mta/sluice/milter"
)

// filterRef is one installed filter with what every connection needs from
// it: its declared needs, taken once, the last negotiation it answered,
// and how many connections still use it.
type filterRef struct {
	f     filter.Filter
	needs filter.Needs
	// last caches the reply to the last offer: MTAs send the same offer on
	// every connection, so negotiation is computed and encoded once.
	last atomic.Pointer[negEntry]

	// guarded by Server.mu
	users   int
	retired bool // replaced by SetFilter: closed when users drops to 0
}

// negEntry is a negotiation result for one MTA offer and packet limit.
type negEntry struct {
	version   uint32
	actions   milter.ActionFlags
	protocol  milter.ProtoFlags
	maxPacket int
	neg       negotiated
	reply     milter.Packet // encoded; read-only
}

func newFilterRef(f filter.Filter) *filterRef {
	return &filterRef{f: f, needs: f.Needs()}
}

// negotiate answers the MTA's offer, from the cache when the offer and the
// packet limit are those of the last connection.
func (r *filterRef) negotiate(mta milter.OptNeg, maxPacket int) (negotiated, milter.Packet, error) {
	if e := r.last.Load(); e != nil && e.version == mta.Version && e.actions == mta.Actions &&
		e.protocol == mta.Protocol && e.maxPacket == maxPacket {
		return e.neg, e.reply, nil
	}
	neg, reply, err := negotiate(mta, r.needs, maxPacket)
	if err != nil {
		return negotiated{}, milter.Packet{}, err
	}
	e := &negEntry{version: mta.Version, actions: mta.Actions, protocol: mta.Protocol,
		maxPacket: maxPacket, neg: neg, reply: reply.Encode()}
	r.last.Store(e)
	return e.neg, e.reply, nil
}

// release drops one user (Server.mu held) and returns r when it was the
// last user of a retired filter, which the caller then closes.
func (r *filterRef) release() *filterRef {
	r.users--
	if r.users == 0 && r.retired {
		return r
	}
	return nil
}

// close closes a retired filter that holds resources (io.Closer).
func (r *filterRef) close(log *slog.Logger) {
	c, ok := r.f.(io.Closer)
	if !ok {
		return
	}
	if err := c.Close(); err != nil {
		log.Warn("closing the replaced filter failed", "filter", filter.NameOf(r.f), "err", err)
	}
}

// SetFilter makes f the filter of connections accepted from now on
// (f.Needs is called here, once); open connections keep the filter they
// negotiated with until they end. When the replaced filter implements
// io.Closer, it is closed once the last connection using it has ended
// (at once when none does). The filter given to New, or the last one
// given to SetFilter, is the caller's to close after Shutdown.
func (s *Server) SetFilter(f filter.Filter) {
	next := newFilterRef(f)
	s.mu.Lock()
	old := s.cur
	s.cur = next
	old.retired = true
	unused := old.users == 0
	s.mu.Unlock()
	if unused {
		old.close(s.opts.Load().Logger)
	}
}

// Filter returns the filter new connections get.
func (s *Server) Filter() filter.Filter {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur.f
}
