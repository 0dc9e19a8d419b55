package greylist

import (
	"context"
	"net/netip"
	"strings"
	"time"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/filter"
)

// greylistedReply is the refusal of an unknown triplet: 450, mailbox
// unavailable for now (RFC 5321 §4.2.2); 4.2.0, mailbox status
// (RFC 3463 §3.3).
func greylistedReply() filter.Verdict {
	return filter.CustomReply(450, "4.2.0", "Greylisted, please try again later")
}

// session greylists the recipients of one connection.
type session struct {
	filter.Base
	f      *Filter
	macros filter.Macros

	exempt bool // the whole connection: whitelisted, authenticated or no IP
	net    netIdentity

	// The current message.
	msgExempt bool   // authenticated or whitelisted sender
	from      string // normalized sender
	counted   bool   // a pass of this message was counted for auto-whitelisting
	grey      bool   // a recipient was greylisted (ReplyAtData)
}

// netIdentity is the client as greylisting sees it.
type netIdentity struct {
	addr string // for logs
	net  netip.Prefix
}

// Connect learns the client's address and whether it is exempt.
func (s *session) Connect(_ context.Context, c *envelope.Conn) filter.Verdict {
	s.exempt = true
	if c == nil || !c.ClientAddr.IsValid() || c.AuthLogin != "" {
		return filter.Continue
	}
	a := c.ClientAddr.Addr()
	if s.f.whitelisted(a) {
		return filter.Continue
	}
	s.exempt = false
	s.net = netIdentity{addr: a.Unmap().String(), net: s.f.clientNet(a)}
	return filter.Continue
}

// Mail starts a message: an authenticated client or a whitelisted sender
// is not greylisted.
func (s *session) Mail(_ context.Context, from envelope.Address) filter.Verdict {
	s.resetMessage()
	if s.exempt {
		return filter.Continue
	}
	if v, ok := s.macros.Macro("{auth_authen}"); ok && v != "" {
		s.msgExempt = true
		return filter.Continue
	}
	lower := strings.ToLower(from.Addr)
	s.msgExempt = matchAny(s.f.sends, lower)
	s.from = normalizeSender(lower)
	return filter.Continue
}

// Rcpt judges one triplet.
func (s *session) Rcpt(_ context.Context, to envelope.Address) filter.Verdict {
	if s.exempt || s.msgExempt {
		return filter.Continue
	}
	rcpt := strings.ToLower(to.Addr)
	if matchAny(s.f.rcpts, rcpt) {
		return filter.Continue
	}
	now := s.f.opts.Now()
	if s.f.st.autoWhitelisted(now, s.net.net) {
		return filter.Continue
	}
	o := s.f.st.check(now, tripletKey{net: s.net.net, from: s.from, to: rcpt})
	if o.pass {
		if !s.counted {
			s.counted = true
			s.f.st.countPass(now, s.net.net)
		}
		if o.first {
			s.f.log.Info("greylist passed", "client", s.net.addr, "network", s.net.net, "from", s.from, "to", rcpt)
		}
		return filter.Continue
	}
	s.f.log.Info("greylisted", "client", s.net.addr, "network", s.net.net, "from", s.from, "to", rcpt,
		"retry_in", o.wait.Round(time.Second).String())
	if s.f.opts.ReplyAtData {
		s.grey = true
		return filter.Continue
	}
	return greylistedReply()
}

// EndOfMessage refuses the message when one of its recipients was
// greylisted (ReplyAtData only).
func (s *session) EndOfMessage(context.Context, *filter.Modifier) filter.Verdict {
	defer s.resetMessage()
	if s.grey {
		return greylistedReply()
	}
	return filter.Continue
}

// Abort forgets the message.
func (s *session) Abort(context.Context) { s.resetMessage() }

func (s *session) resetMessage() {
	s.msgExempt, s.from, s.counted, s.grey = false, "", false, false
}
