package spf

import (
	"context"
	"net/netip"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/filter"
)

// session is one connection: who the client is, and the header the
// current message will get.
type session struct {
	filter.Base
	f      *Filter
	macros filter.Macros

	ip       netip.Addr // invalid: no IP address (unix socket), never checked
	skip     bool       // a trusted network, or authenticated at connect
	receiver string
	helo     string

	header string // Received-SPF value for the current message, "" for none
}

// Connect records the client and decides whether it is skipped.
func (s *session) Connect(_ context.Context, c *envelope.Conn) filter.Verdict {
	s.ip, s.skip = netip.Addr{}, false
	if c.ClientAddr.IsValid() {
		s.ip = c.ClientAddr.Addr().Unmap().WithZone("")
	}
	s.skip = !s.ip.IsValid() || s.f.skip.Contains(s.ip) || c.AuthLogin != ""
	s.receiver = s.f.receiver
	if s.receiver == "" && checkReceiver(c.Hostname) == nil {
		s.receiver = c.Hostname
	}
	if c.HELO != "" {
		s.helo = c.HELO
	}
	return filter.Continue
}

// Helo records the name; a repeated HELO replaces it.
func (s *session) Helo(_ context.Context, name string) filter.Verdict {
	s.helo = name
	return filter.Continue
}

// Mail checks the sender (or the HELO name for the null sender) and
// answers as the options say for the result.
func (s *session) Mail(ctx context.Context, from envelope.Address) filter.Verdict {
	s.header = ""
	if s.skip {
		return filter.Continue
	}
	if login, _ := s.macros.Macro("auth_authen"); login != "" {
		return filter.Continue
	}
	o := s.f.check(ctx, s.ip, s.helo, from.Addr)
	a := s.f.actionFor(o.result)
	s.f.log.InfoContext(ctx, "spf", "result", string(o.result), "identity", o.identity,
		"domain", o.domain, "client_ip", o.ip.String(), "action", a.String(), "err", errText(o.err))
	v := verdict(o, a)
	if v.Terminal() {
		return v
	}
	if s.f.header {
		s.header = receivedSPF(o, s.receiver)
	}
	return filter.Continue
}

// EndOfMessage inserts the Received-SPF field at the top of the header.
func (s *session) EndOfMessage(_ context.Context, m *filter.Modifier) filter.Verdict {
	h := s.header
	s.header = ""
	if h == "" {
		return filter.Continue
	}
	if err := m.InsertHeader(0, "Received-SPF", h); err != nil {
		s.f.log.Warn("spf: cannot add Received-SPF", "err", err)
	}
	return filter.Continue
}

// Abort forgets the message's header.
func (s *session) Abort(context.Context) { s.header = "" }

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
