package dnsbl

import (
	"context"
	"net/netip"
	"strings"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/filter"
)

// session holds one connection's lookups: started at Connect, waited for
// at the stage that decides.
type session struct {
	filter.Base
	f *Filter

	pending chan result // the lookups' result, until received
	cancel  context.CancelFunc
	client  netip.Addr
	res     result
	have    bool // res is set
}

// Connect starts the lookups of the client's address in every zone; with
// RejectAt connect it waits for them and answers.
func (s *session) Connect(ctx context.Context, c *envelope.Conn) filter.Verdict {
	s.stop()
	s.have, s.res = false, result{}
	a := c.ClientAddr.Addr().Unmap()
	s.client = a
	if !a.IsValid() || s.f.skipped(a) {
		s.have, s.res = true, result{outcome: skipped, client: a}
		return filter.Continue
	}
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.f.timeout)
	s.cancel = cancel
	ch := make(chan result, 1)
	s.pending = ch
	go func() {
		ch <- s.f.evaluate(a, s.f.lookupAll(lctx, a))
	}()
	if s.f.atRcpt {
		return filter.Continue
	}
	return s.decide(ctx)
}

// Rcpt answers each recipient with the verdict, with RejectAt rcpt.
func (s *session) Rcpt(ctx context.Context, _ envelope.Address) filter.Verdict {
	return s.decide(ctx)
}

// EndOfMessage adds the X-DNSBL field for a listed client, with the tag
// action.
func (s *session) EndOfMessage(ctx context.Context, m *filter.Modifier) filter.Verdict {
	r := s.wait(ctx)
	if s.f.act == actTag && r.outcome == listed {
		if err := m.AddHeader(HeaderName, strings.Join(r.zones, ", ")); err != nil {
			s.f.log.Warn("dnsbl: cannot add the header", "err", err)
		}
	}
	return filter.Continue
}

// Close stops lookups still running.
func (s *session) Close(context.Context) { s.stop() }

func (s *session) stop() {
	if s.cancel != nil {
		s.cancel()
		s.cancel = nil
	}
}

// wait returns the result, waiting for the lookups the first time; they
// end by the timeout. If ctx ends first, the lookups count as failed.
func (s *session) wait(ctx context.Context) result {
	if s.have {
		return s.res
	}
	select {
	case r := <-s.pending:
		s.res = r
		s.log(r)
	case <-ctx.Done():
		s.stop()
		s.res = result{outcome: unsure, client: s.client, errs: []string{ctx.Err().Error()}}
		s.log(s.res)
	}
	s.have, s.pending = true, nil
	return s.res
}

// decide turns the result into the verdict of the deciding stage.
func (s *session) decide(ctx context.Context) filter.Verdict {
	r := s.wait(ctx)
	switch {
	case r.outcome == listed && s.f.act != actTag:
		v := filter.Verdict{Action: filter.ActionReject, Reply: s.f.reply.expand(&r)}
		if s.f.act == actTempFail {
			v.Action = filter.ActionTempFail
		}
		return v
	case r.outcome == unsure && s.f.tempfailOnError:
		return filter.Verdict{Action: filter.ActionTempFail, Reply: s.f.dnsErr.expand(&r)}
	}
	return filter.Continue
}

// log writes the line of a listed client, or of failed lookups.
func (s *session) log(r result) {
	switch {
	case r.outcome == listed:
		s.f.log.Info("dnsbl: listed", "client", r.client.String(), "zones", strings.Join(r.zones, ","),
			"answers", strings.Join(r.codes, ","), "score", r.score, "action", s.f.actionName())
	case len(r.errs) > 0:
		s.f.log.Warn("dnsbl: lookup failed", "client", r.client.String(), "err", r.lookupError(),
			"decides", r.outcome == unsure)
	}
}

func (f *Filter) skipped(a netip.Addr) bool { return filter.Networks(f.skip).Contains(a) }

func (f *Filter) actionName() string {
	return [...]string{"reject", "tempfail", "tag"}[f.act]
}
