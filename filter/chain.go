package filter

import (
	"context"
	"strings"

	"github.com/sluice-mta/sluice/envelope"
)

// Chain runs filters in order as one Filter. At each stage the members are
// called in order until one returns a terminal verdict (reject, tempfail,
// discard), which becomes the chain's verdict. A member that accepts is not
// called again for the rest of the message (at connect and HELO: of the
// connection); the chain accepts when every member has. At end of message
// each member records its edits in turn and the chain passes them on in
// that order.
//
// The chain's Needs is the union of its members' (a stage is skipped only
// when every member skips it); members are still called only for what they
// declared: a member that skips a stage, does not want rejected recipients,
// or wants header values without their leading space is served accordingly.
type Chain struct {
	members []Filter
	needs   Needs
}

// NewChain returns a chain of filters, called in the given order.
func NewChain(filters ...Filter) *Chain {
	c := &Chain{members: filters}
	c.needs = unionNeeds(filters)
	return c
}

// Name implements Named.
func (c *Chain) Name() string {
	names := make([]string, len(c.members))
	for i, f := range c.members {
		names[i] = NameOf(f)
	}
	return "chain(" + strings.Join(names, ",") + ")"
}

// Filters returns the members in order.
func (c *Chain) Filters() []Filter { return c.members }

// Needs implements Filter.
func (c *Chain) Needs() Needs { return c.needs }

func unionNeeds(filters []Filter) Needs {
	n := Needs{Skip: AllStages, NoReply: AllStages}
	var explicit bool
	for _, f := range filters {
		if f.Needs().Macros != nil {
			explicit = true
		}
	}
	if explicit {
		n.Macros = map[Stage][]string{}
	}
	for _, f := range filters {
		fn := f.Needs()
		n.Skip &= fn.Skip
		n.NoReply &= fn.NoReply | fn.Skip // a member never answers a stage it skips
		n.Edits |= fn.Edits
		n.RejectedRecipients = n.RejectedRecipients || fn.RejectedRecipients
		n.HeaderLeadingSpace = n.HeaderLeadingSpace || fn.HeaderLeadingSpace
		if explicit {
			macros := fn.Macros
			if macros == nil {
				macros = DefaultMacros()
			}
			for st, names := range macros {
				n.Macros[st] = mergeNames(n.Macros[st], names)
			}
		}
	}
	if len(filters) == 0 {
		n.Skip, n.NoReply = 0, 0
	}
	return n
}

func mergeNames(have, add []string) []string {
	for _, a := range add {
		found := false
		for _, h := range have {
			if CanonicalMacro(h) == CanonicalMacro(a) {
				found = true
				break
			}
		}
		if !found {
			have = append(have, a)
		}
	}
	return have
}

// NewSession implements Filter: it opens a session on every member. If one
// fails, those already opened are closed.
func (c *Chain) NewSession(ctx context.Context, macros Macros) (Session, error) {
	s := &chainSession{macros: macros, leadSpace: c.needs.HeaderLeadingSpace}
	for _, f := range c.members {
		sess, err := f.NewSession(ctx, macros)
		if err != nil {
			s.Close(ctx)
			return nil, err
		}
		s.members = append(s.members, &member{sess: sess, needs: f.Needs()})
	}
	return s, nil
}

type member struct {
	sess     Session
	needs    Needs
	connDone bool // accepted at connect or HELO
	msgDone  bool // accepted during the current message
	skipBody bool // answered Skip to a body chunk
}

func (m *member) active() bool { return !m.connDone && !m.msgDone }

type chainSession struct {
	members   []*member
	macros    Macros
	leadSpace bool
}

// each calls fn on every active member that does not skip st, stopping at
// a terminal verdict. It returns that verdict, or Accept when every member
// is done, or Continue.
func (s *chainSession) each(st Stage, fn func(*member) Verdict) Verdict {
	for _, m := range s.members {
		if !m.active() || m.needs.Skip.Has(st) {
			continue
		}
		v := fn(m)
		switch {
		case v.Terminal():
			return v
		case v.Action == ActionAccept && st <= StageHelo:
			m.connDone = true
		case v.Action == ActionAccept:
			m.msgDone = true
		case v.Action == ActionSkip && st == StageBody:
			m.skipBody = true
		}
	}
	return s.summary(st)
}

func (s *chainSession) summary(st Stage) Verdict {
	allDone, allSkipped := true, true
	for _, m := range s.members {
		if m.active() {
			allDone = false
			if !m.skipBody && !m.needs.Skip.Has(StageBody) {
				allSkipped = false
			}
		}
	}
	switch {
	case allDone && len(s.members) > 0:
		return Accept
	case st == StageBody && allSkipped:
		return Skip
	}
	return Continue
}

func (s *chainSession) Connect(ctx context.Context, conn *envelope.Conn) Verdict {
	return s.each(StageConnect, func(m *member) Verdict { return m.sess.Connect(ctx, conn) })
}

func (s *chainSession) Helo(ctx context.Context, name string) Verdict {
	return s.each(StageHelo, func(m *member) Verdict { return m.sess.Helo(ctx, name) })
}

func (s *chainSession) Mail(ctx context.Context, from envelope.Address) Verdict {
	return s.each(StageMail, func(m *member) Verdict { return m.sess.Mail(ctx, from) })
}

func (s *chainSession) Rcpt(ctx context.Context, to envelope.Address) Verdict {
	rejected := false
	if mailer, ok := s.macros.Macro("rcpt_mailer"); ok && mailer == "error" {
		rejected = true
	}
	return s.each(StageRcpt, func(m *member) Verdict {
		if rejected && !m.needs.RejectedRecipients {
			return Continue
		}
		return m.sess.Rcpt(ctx, to)
	})
}

func (s *chainSession) Data(ctx context.Context) Verdict {
	return s.each(StageData, func(m *member) Verdict { return m.sess.Data(ctx) })
}

func (s *chainSession) Header(ctx context.Context, name, value string) Verdict {
	stripped := value
	if s.leadSpace {
		stripped = strings.TrimPrefix(value, " ")
	}
	return s.each(StageHeader, func(m *member) Verdict {
		if m.needs.HeaderLeadingSpace {
			return m.sess.Header(ctx, name, value)
		}
		return m.sess.Header(ctx, name, stripped)
	})
}

func (s *chainSession) EndOfHeaders(ctx context.Context) Verdict {
	return s.each(StageEndOfHeaders, func(m *member) Verdict { return m.sess.EndOfHeaders(ctx) })
}

func (s *chainSession) Body(ctx context.Context, chunk []byte) Verdict {
	return s.each(StageBody, func(m *member) Verdict {
		if m.skipBody {
			return Continue
		}
		return m.sess.Body(ctx, chunk)
	})
}

// EndOfMessage gives each active member its own Modifier, limited to what
// it declared, and passes its edits on to mod in order.
func (s *chainSession) EndOfMessage(ctx context.Context, mod *Modifier) Verdict {
	defer s.endMessage()
	return s.each(StageEndOfMessage, func(m *member) Verdict {
		own := NewModifier(m.needs.Edits, mod.progress)
		v := m.sess.EndOfMessage(ctx, own)
		for _, e := range own.Edits() {
			mod.apply(e)
		}
		return v
	})
}

func (s *chainSession) endMessage() {
	for _, m := range s.members {
		m.msgDone, m.skipBody = false, false
	}
}

func (s *chainSession) Abort(ctx context.Context) {
	for _, m := range s.members {
		if !m.connDone {
			m.sess.Abort(ctx)
		}
	}
	s.endMessage()
}

func (s *chainSession) Unknown(ctx context.Context, command string) Verdict {
	return s.each(StageUnknown, func(m *member) Verdict { return m.sess.Unknown(ctx, command) })
}

func (s *chainSession) Close(ctx context.Context) {
	for _, m := range s.members {
		m.sess.Close(ctx)
	}
}
