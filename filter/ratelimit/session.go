package ratelimit

import (
	"context"
	"net/netip"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/filter"
)

// Reply codes of a refusal.
const (
	// codeClosing closes the connection: RFC 5321 §3.8, §4.2.3.
	codeClosing = 421
	// codeBusy refuses one command for now: RFC 5321 §4.2.3.
	codeBusy = 450
	// enhConn: other or undefined security status (RFC 3463 §3.8), as
	// Postfix answers a connection over its rate.
	enhConn = "4.7.0"
	// enhEvent: delivery not authorized (RFC 3463 §3.8), as Postfix
	// answers a message or recipient over its rate.
	enhEvent = "4.7.1"
)

// session is one connection: the client it counts for, learnt at connect.
type session struct {
	filter.Base
	f       *Filter
	macros  filter.Macros
	limited bool       // the client has an IP address and is not exempt
	key     clientKey  // valid when limited
	addr    netip.Addr // the client's address, for replies
}

// Connect learns the client and counts the connection.
func (s *session) Connect(_ context.Context, c *envelope.Conn) filter.Verdict {
	s.limited = false
	addr := c.ClientAddr.Addr().Unmap().WithZone("")
	if !addr.IsValid() || s.f.isExempt(addr) {
		return filter.Continue
	}
	s.limited, s.key, s.addr = true, s.f.keyOf(addr), addr
	if s.over(kindConn) {
		return filter.CustomReply(codeClosing, enhConn, "Too many connections from ["+s.addr.String()+"], slow down")
	}
	return filter.Continue
}

// Mail counts a message.
func (s *session) Mail(context.Context, envelope.Address) filter.Verdict {
	if s.authExempt() || !s.over(kindMail) {
		return filter.Continue
	}
	return filter.CustomReply(codeBusy, enhEvent, "Too many messages from ["+s.addr.String()+"], slow down")
}

// Rcpt counts a recipient.
func (s *session) Rcpt(context.Context, envelope.Address) filter.Verdict {
	if s.authExempt() || !s.over(kindRcpt) {
		return filter.Continue
	}
	return filter.CustomReply(codeBusy, enhEvent, "Too many recipients from ["+s.addr.String()+"], slow down")
}

// over spends one event of kind and reports whether the client is over
// its limit; never for an unlimited client or kind.
func (s *session) over(k kind) bool {
	r := s.f.rates[k]
	if !s.limited || !r.on() {
		return false
	}
	return !s.f.table.take(s.key, k, r, s.f.clock())
}

// authExempt reports whether the session is exempt as authenticated.
func (s *session) authExempt() bool {
	if !s.f.exemptAuth {
		return false
	}
	v, _ := s.macros.Macro("auth_authen")
	return v != ""
}
