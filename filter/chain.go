package filter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
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
// Later members see earlier members' edits, as Postfix arranges for
// several milters: a member placed after one that may edit headers or the
// body does not see the header section and body as they stream in;
// the chain keeps them (headers in memory, bounded; the body in an
// unlinked temporary file) and, at end of message, gives that member the
// message as the earlier members left it. Members before any such editor
// see the message live, so their verdicts come early.
//
// The chain's Needs is the union of its members' (a stage is skipped only
// when every member skips it; see unionNeeds for macros); members are
// still called only for what they declared: a member that skips a stage,
// does not want rejected recipients, or wants header values without their
// leading space is served accordingly.
//
// Close closes the members that hold resources between sessions.
type Chain struct {
	members []Filter
	live    []bool // member i sees header and body as they stream in
	replay  bool   // some member does not: keep the message for it
	needs   Needs
	opts    ChainOptions
}

// ChainOptions bound what a chain keeps to replay a message to members
// after an editor. The zero value has the defaults given.
type ChainOptions struct {
	// TempDir holds the body while a message is kept; default os.TempDir().
	TempDir string
	// MaxHeaderBytes bounds the header section kept; default 1 MiB. A
	// larger one gets a temporary failure at end of message.
	MaxHeaderBytes int
	// MaxBodyBytes bounds the body kept; default 1 GiB.
	MaxBodyBytes int64
}

var _ io.Closer = (*Chain)(nil)

// contentStages are the stages a member after an editor sees only at end
// of message.
var contentStages = Stages(StageHeader, StageEndOfHeaders, StageBody)

// contentEdits are the edits that change what later members must see.
const contentEdits = EditAddHeader | EditChangeHeader | EditInsertHeader | EditReplaceBody

// NewChain returns a chain of filters, called in the given order, with
// default ChainOptions.
func NewChain(filters ...Filter) *Chain {
	return NewChainOptions(ChainOptions{}, filters...)
}

// NewChainOptions returns a chain of filters with the given options.
func NewChainOptions(opts ChainOptions, filters ...Filter) *Chain {
	if opts.MaxHeaderBytes <= 0 {
		opts.MaxHeaderBytes = 1 << 20
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 1 << 30
	}
	c := &Chain{members: filters, opts: opts, live: make([]bool, len(filters))}
	editorBefore := false
	for i, f := range filters {
		n := f.Needs()
		c.live[i] = !editorBefore || n.Skip&contentStages == contentStages
		c.replay = c.replay || !c.live[i]
		editorBefore = editorBefore || n.Edits&contentEdits != 0
	}
	c.needs = unionNeeds(filters, c.live)
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

// Needs implements Filter. Its Macros map is shared: do not modify it.
func (c *Chain) Needs() Needs { return c.needs }

// Close closes, in order, every member that implements io.Closer (a
// milterclient.Milter closes its idle milter connections; a nested Chain
// its own members), and returns their errors joined. The chain does not
// track its sessions: close it when no session uses it any more, or when
// its members allow sessions to go on after Close (milterclient.Milter
// does). Close is safe to call again when the members' Close is.
func (c *Chain) Close() error {
	var errs []error
	for _, f := range c.members {
		if cl, ok := f.(io.Closer); ok {
			if err := cl.Close(); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", NameOf(f), err))
			}
		}
	}
	return errors.Join(errs...)
}

// NewSession implements Filter: it opens a session on every member. If one
// fails, those already opened are closed.
func (c *Chain) NewSession(ctx context.Context, macros Macros) (Session, error) {
	s := &chainSession{c: c, macros: macros, leadSpace: c.needs.HeaderLeadingSpace}
	for i, f := range c.members {
		sess, err := f.NewSession(ctx, macros)
		if err != nil {
			s.Close(ctx)
			return nil, err
		}
		s.members = append(s.members, &member{sess: sess, needs: f.Needs(), live: c.live[i]})
	}
	return s, nil
}

type member struct {
	sess     Session
	needs    Needs
	live     bool // sees header and body as they stream in
	connDone bool // accepted at connect or HELO
	msgDone  bool // accepted during the current message
	skipBody bool // answered Skip to a body chunk
}

func (m *member) active() bool { return !m.connDone && !m.msgDone }

type chainSession struct {
	c         *Chain
	members   []*member
	macros    Macros
	leadSpace bool
	kept      keptMessage // the message, for members that are not live
}

// each calls fn on every active member that does not skip st, stopping at
// a terminal verdict. It returns that verdict, or Accept when every member
// is done, or Continue.
func (s *chainSession) each(st Stage, fn func(*member) Verdict) Verdict {
	for _, m := range s.members {
		if !m.active() || m.needs.Skip.Has(st) || (!m.live && contentStages.Has(st)) {
			continue
		}
		if v := s.note(m, st, fn(m)); v.Terminal() {
			return v
		}
	}
	return s.summary(st)
}

// note records what a member's verdict at st means for later calls.
func (s *chainSession) note(m *member, st Stage, v Verdict) Verdict {
	switch {
	case v.Action == ActionAccept && st <= StageHelo:
		m.connDone = true
	case v.Action == ActionAccept:
		m.msgDone = true
	case v.Action == ActionSkip && st == StageBody:
		m.skipBody = true
	}
	return v
}

func (s *chainSession) summary(st Stage) Verdict {
	allDone, allSkipped := true, !s.c.replay
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
	s.kept.reset()
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
	if s.c.replay {
		s.kept.addHeader(name, value, s.c.opts.MaxHeaderBytes)
	}
	return s.each(StageHeader, func(m *member) Verdict { return s.header(ctx, m, name, value) })
}

// header gives m one header, with or without the leading space as it
// declared.
func (s *chainSession) header(ctx context.Context, m *member, name, value string) Verdict {
	if s.leadSpace && !m.needs.HeaderLeadingSpace {
		value = strings.TrimPrefix(value, " ")
	}
	return m.sess.Header(ctx, name, value)
}

func (s *chainSession) EndOfHeaders(ctx context.Context) Verdict {
	return s.each(StageEndOfHeaders, func(m *member) Verdict { return m.sess.EndOfHeaders(ctx) })
}

func (s *chainSession) Body(ctx context.Context, chunk []byte) Verdict {
	if s.c.replay {
		s.kept.writeBody(chunk, s.c.opts)
	}
	return s.each(StageBody, func(m *member) Verdict {
		if m.skipBody {
			return Continue
		}
		return m.sess.Body(ctx, chunk)
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
	s.kept.reset()
}

func (s *chainSession) Unknown(ctx context.Context, command string) Verdict {
	return s.each(StageUnknown, func(m *member) Verdict { return m.sess.Unknown(ctx, command) })
}

func (s *chainSession) Close(ctx context.Context) {
	for _, m := range s.members {
		m.sess.Close(ctx)
	}
	s.kept.reset()
}

// tempDir returns where kept bodies go.
func (o ChainOptions) tempDir() string {
	if o.TempDir != "" {
		return o.TempDir
	}
	return os.TempDir()
}
