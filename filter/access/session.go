package access

import (
	"context"
	"slices"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/filter"
)

// session holds the decisions taken so far on one connection.
type session struct {
	filter.Base
	f *Filter

	connAccepted bool // a client or HELO rule accepted: no more rules
	msgAccepted  bool // a sender or recipient rule accepted this message

	// Connection-level discard and quarantine, applied to each message.
	// The HELO ones follow the latest HELO.
	clientDiscard, heloDiscard bool
	clientReason, heloReason   string

	msgReason string // first sender or recipient quarantine of this message
}

// Connect evaluates the client rules.
func (s *session) Connect(_ context.Context, c *envelope.Conn) filter.Verdict {
	for i := range s.f.rules[keyClient] {
		if r := &s.f.rules[keyClient][i]; r.pat.matchConn(c) {
			return s.connDecide(r, &s.clientDiscard, &s.clientReason)
		}
	}
	return filter.Continue
}

// Helo evaluates the HELO rules. A repeated HELO (after STARTTLS)
// replaces the decision of the previous one.
func (s *session) Helo(_ context.Context, name string) filter.Verdict {
	if s.connAccepted {
		return filter.Continue
	}
	s.heloDiscard, s.heloReason = false, ""
	for i := range s.f.rules[keyHelo] {
		if r := &s.f.rules[keyHelo][i]; r.pat.matchHelo(name) {
			return s.connDecide(r, &s.heloDiscard, &s.heloReason)
		}
	}
	return filter.Continue
}

func (s *session) connDecide(r *rule, discard *bool, reason *string) filter.Verdict {
	switch r.act {
	case actQuarantine:
		*reason = r.reason
		return filter.Continue
	case actDiscard:
		*discard = true
		return filter.Continue
	case actAccept:
		s.connAccepted = true
		return filter.Accept
	}
	return r.verdict()
}

// Mail starts a message: it discards it when a client or HELO rule said
// so, else evaluates the sender rules.
func (s *session) Mail(_ context.Context, from envelope.Address) filter.Verdict {
	s.resetMessage()
	if s.connAccepted {
		return filter.Continue
	}
	if s.clientDiscard || s.heloDiscard {
		return filter.Discard
	}
	for i := range s.f.rules[keySender] {
		if r := &s.f.rules[keySender][i]; r.pat.matchAddr(from.Addr) {
			return s.msgDecide(r)
		}
	}
	return filter.Continue
}

// Rcpt evaluates the recipient rules for one recipient.
func (s *session) Rcpt(_ context.Context, to envelope.Address) filter.Verdict {
	if s.connAccepted || s.msgAccepted {
		return filter.Continue
	}
	for i := range s.f.rules[keyRecipient] {
		if r := &s.f.rules[keyRecipient][i]; r.pat.matchAddr(to.Addr) {
			return s.msgDecide(r)
		}
	}
	return filter.Continue
}

func (s *session) msgDecide(r *rule) filter.Verdict {
	switch r.act {
	case actQuarantine:
		if s.msgReason == "" {
			s.msgReason = r.reason
		}
		return filter.Continue
	case actDiscard:
		return filter.Discard
	case actAccept:
		s.msgAccepted = true
		return filter.Accept
	}
	return r.verdict()
}

// EndOfMessage quarantines the message when a rule asked for it: the
// client's reason first, then the HELO's, then the message's.
func (s *session) EndOfMessage(_ context.Context, m *filter.Modifier) filter.Verdict {
	defer s.resetMessage()
	if s.connAccepted || s.msgAccepted {
		return filter.Continue
	}
	reason := s.clientReason
	for _, r := range []string{s.heloReason, s.msgReason} {
		if reason == "" {
			reason = r
		}
	}
	if reason == "" {
		return filter.Continue
	}
	if err := m.Quarantine(reason); err != nil {
		return filter.TempFail
	}
	return filter.Continue
}

// Abort forgets the message's decisions.
func (s *session) Abort(context.Context) { s.resetMessage() }

func (s *session) resetMessage() {
	s.msgAccepted, s.msgReason = false, ""
}

// verdict is a reject or tempfail rule's verdict, with a fresh copy of its
// reply so no caller can change the rule.
func (r *rule) verdict() filter.Verdict {
	v := filter.Reject
	if r.act == actTempFail {
		v = filter.TempFail
	}
	if r.reply != nil {
		cp := *r.reply
		cp.Lines = slices.Clone(cp.Lines)
		v.Reply = &cp
	}
	return v
}
