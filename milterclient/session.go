package milterclient

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/sluice-mta/sluice/filter"
	"github.com/sluice-mta/sluice/milter"
)

// Session is one SMTP connection as the milter sees it: one milter
// connection, reused for every transaction of the SMTP connection. Its
// methods must be called from one goroutine, in SMTP order (see
// filter.Session).
//
// When the milter fails (it cannot be reached, times out, closes the
// connection, or sends anything malformed or out of order) the session
// logs it once, closes the milter connection, and answers the stage that
// failed and every later one with the default action. Err then tells what
// happened.
//
// A replaced body (filter.ReplaceBody edit) is readable until the next
// Mail, Abort or Close.
type Session struct {
	m      *Milter
	macros filter.Macros
	log    *slog.Logger
	c      *wireConn    // nil before a connection and after a failure or Close
	neg    *negotiated  // nil when never connected
	err    error        // the failure; the default action applies
	stage  filter.Stage // where it failed
	last   filter.Stage // the last stage sent
	closed bool

	connDone    bool // the milter accepted or refused the connection
	connVerdict filter.Verdict
	msgDone     bool // the milter accepted or refused the message
	msgVerdict  filter.Verdict

	// reused: the connection came idle from the pool and has not answered
	// yet; if the milter closed it, the session redials once. quitNC: it
	// was left with SMFIC_QUIT_NC (not unused since option negotiation).
	reused, redialed, quitNC bool
	// atRest: the last exchange was end of message and the milter answered
	// SMFIR_CONTINUE, the one state in which libmilter accepts
	// SMFIC_QUIT_NC (see Close).
	atRest bool

	inTxn   bool   // the milter is inside a transaction: ABORT before the next one
	skipCmd byte   // SMFIR_SKIP: commands with this code are not sent until another comes
	body    []byte // body bytes not yet sent, at most neg.maxChunk
	pairs   []string
	spool   *bodySpool
}

var _ filter.Session = (*Session)(nil)

// Err returns why the session applies the default action (the milter
// failed, or the circuit breaker was open), or nil.
func (s *Session) Err() error { return s.err }

// Negotiated returns what the milter agreed to, and false when the
// session never connected.
func (s *Session) Negotiated() (Negotiation, bool) {
	if s.neg == nil {
		return Negotiation{}, false
	}
	n := s.neg.Negotiation
	if n.Macros != nil {
		n.Macros = cloneMacros(n.Macros)
	}
	return n, true
}

// gate answers a stage that must not reach the milter: after a failure,
// or once the milter has decided the connection's (or the message's)
// fate.
func (s *Session) gate(st filter.Stage) (filter.Verdict, bool) {
	switch {
	case s.err != nil:
		return s.fallback(), true
	case s.c == nil:
		return s.fail(st, errors.New("session used after Close")), true
	case s.connDone:
		return s.connVerdict, true
	case s.msgDone && messageStage(st):
		return s.msgVerdict, true
	}
	return filter.Continue, false
}

func messageStage(st filter.Stage) bool {
	return st >= filter.StageRcpt && st <= filter.StageEndOfMessage
}

// fail records the first failure: it is logged once, the milter
// connection is closed, and the default action applies from now on.
func (s *Session) fail(st filter.Stage, err error) filter.Verdict {
	if s.err == nil {
		s.err, s.stage = err, st
		level := slog.LevelWarn
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			level = slog.LevelInfo
		}
		s.log.Log(context.Background(), level, "milter failed; its default action applies for the rest of the connection",
			"stage", st.String(), "default_action", s.m.opts.DefaultAction.String(), "err", err.Error())
		if s.c != nil {
			s.c.close()
			s.c = nil
		}
	}
	return s.fallback()
}

// fallback is the default action's verdict at any stage but end of
// message (see fallbackEOM).
func (s *Session) fallback() filter.Verdict {
	switch s.m.opts.DefaultAction {
	case Accept:
		return filter.Accept
	case Reject:
		return fixedVerdict(filter.ActionReject, rejectReply)
	case Quarantine:
		return filter.Continue
	case Shutdown:
		return ShutdownVerdict()
	}
	return fixedVerdict(filter.ActionTempFail, tempFailReply)
}

// fallbackEOM is the default action at end of message: for Quarantine, a
// quarantine edit naming the milter and its failure.
func (s *Session) fallbackEOM(mod *filter.Modifier) filter.Verdict {
	if s.m.opts.DefaultAction != Quarantine {
		return s.fallback()
	}
	if err := mod.Quarantine(s.quarantineReason()); err != nil {
		s.log.Error("cannot quarantine the message for a failed milter; temporary failure instead", "err", err.Error())
		return fixedVerdict(filter.ActionTempFail, tempFailReply)
	}
	return filter.Continue
}

func (s *Session) quarantineReason() string {
	reason := fmt.Sprintf("milter %s failed at %s: %v", s.m.opts.Name, s.stage, s.err)
	if errors.Is(s.err, ErrCircuitOpen) {
		reason = fmt.Sprintf("milter %s: %v", s.m.opts.Name, s.err)
	}
	reason = strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r == 0 {
			return ' '
		}
		return r
	}, reason)
	if len(reason) > 900 {
		reason = reason[:900] + "…"
	}
	return reason
}

// exchange sends the stage's macros and its command and turns the reply
// into a verdict. A stage the milter skips gets only its macros (as in
// Postfix); a no-reply stage is only buffered, and flushed with the next
// command that waits for a reply.
func (s *Session) exchange(ctx context.Context, st filter.Stage, cmd milter.Command) filter.Verdict {
	if s.err != nil {
		return s.fallback()
	}
	code := cmd.Code()
	if s.skipCmd != 0 && s.skipCmd != code {
		s.skipCmd = 0
	}
	if s.skipCmd == code {
		return filter.Continue
	}
	if st >= filter.StageMail && st <= filter.StageEndOfMessage {
		s.inTxn = true
	}
	s.last, s.atRest = st, false
	var v filter.Verdict
	err := s.attempt(ctx, func() (err error) {
		v, err = s.roundTrip(st, cmd)
		return err
	})
	if err != nil {
		return s.fail(st, err)
	}
	return v
}

// attempt runs one exchange with ctx watched. When the milter closed a
// reused connection before answering anything of this session, the
// session redials and runs it again, once.
func (s *Session) attempt(ctx context.Context, run func() error) error {
	mark := s.c.recorded()
	err := s.watched(ctx, run)
	if err != nil && s.reused {
		var again bool
		if again, err = s.redial(ctx, err, mark); again {
			err = s.watched(ctx, run)
		}
	}
	if err == nil && s.reused && s.c.replied {
		s.reused = false
		s.m.pool.worked()
	}
	return err
}

// watched runs an exchange on the connection; a cancelled ctx breaks it.
func (s *Session) watched(ctx context.Context, run func() error) error {
	stop := s.c.watch(ctx)
	err := run()
	if cerr := stop(); err != nil && cerr != nil {
		err = fmt.Errorf("%w (%v)", cerr, err)
	}
	return err
}

func (s *Session) roundTrip(st filter.Stage, cmd milter.Command) (filter.Verdict, error) {
	code := cmd.Code()
	timeout := s.m.opts.CommandTimeout
	s.c.begin(timeout)
	if !s.neg.knows(code) {
		return filter.Continue, nil
	}
	if err := s.c.checkQuiet(); err != nil {
		return filter.Verdict{}, err
	}
	if err := s.sendMacros(st, code); err != nil {
		return filter.Verdict{}, err
	}
	if s.neg.Protocol.Skips(code) {
		return filter.Continue, nil
	}
	noReply := !s.neg.Protocol.ReplyExpected(code)
	if err := s.c.send(cmd, noReply); err != nil {
		return filter.Verdict{}, err
	}
	if noReply {
		return filter.Continue, nil
	}
	if err := s.c.flush(code); err != nil {
		return filter.Verdict{}, err
	}
	resp, err := s.c.readReply(code, timeout, nil)
	if err != nil {
		return filter.Verdict{}, err
	}
	return s.verdict(st, code, resp)
}

// sendMacros buffers the macros of stage st that have a value.
func (s *Session) sendMacros(st filter.Stage, code byte) error {
	names := s.neg.macros[st]
	if len(names) == 0 {
		return nil
	}
	pairs := s.pairs[:0]
	for _, n := range names {
		if v, ok := s.macros.Macro(n); ok {
			pairs = append(pairs, n, v)
		}
	}
	s.pairs = pairs
	if len(pairs) == 0 {
		return nil
	}
	return s.c.send(milter.Macro{Stage: code, Pairs: pairs}, false)
}

// verdict turns the reply to a stage command into a verdict, and records
// decisions that cover the rest of the message or connection.
func (s *Session) verdict(st filter.Stage, code byte, resp milter.Response) (filter.Verdict, error) {
	switch r := resp.(type) {
	case milter.Continue:
		return filter.Continue, nil
	case milter.Accept:
		if st <= filter.StageHelo {
			s.connDone, s.connVerdict = true, filter.Accept
		} else {
			s.msgDone, s.msgVerdict = true, filter.Accept
		}
		return filter.Accept, nil
	case milter.Reject:
		return s.refuse(st, filter.Reject), nil
	case milter.TempFail:
		return s.refuse(st, filter.TempFail), nil
	case milter.ReplyCode:
		v, err := replyVerdict(r.Text)
		if err != nil {
			return filter.Verdict{}, err
		}
		return s.refuse(st, v), nil
	case milter.Discard:
		if st <= filter.StageHelo || st == filter.StageUnknown {
			s.log.Warn("milter answered discard outside a message; ignored", "stage", st.String())
			return filter.Continue, nil
		}
		s.msgDone, s.msgVerdict = true, filter.Discard
		return filter.Discard, nil
	case milter.Skip:
		s.skipCmd = code
		if st == filter.StageBody {
			s.body = s.body[:0]
			return filter.Skip, nil
		}
		return filter.Continue, nil
	case milter.Shutdown:
		v := ShutdownVerdict()
		s.connDone, s.connVerdict = true, v
		return v, nil
	}
	return filter.Verdict{}, errUnexpected(resp, code)
}

// refuse records a reject or tempfail: for the connection at connect and
// HELO, for one recipient or command at RCPT and unknown, else for the
// message.
func (s *Session) refuse(st filter.Stage, v filter.Verdict) filter.Verdict {
	switch st {
	case filter.StageConnect, filter.StageHelo:
		s.connDone, s.connVerdict = true, v
	case filter.StageRcpt, filter.StageUnknown:
	default:
		s.msgDone, s.msgVerdict = true, v
	}
	return v
}

// queueAbort buffers SMFIC_ABORT when the milter is inside a transaction.
func (s *Session) queueAbort() error {
	if !s.inTxn {
		return nil
	}
	s.inTxn, s.atRest = false, false
	s.c.begin(s.m.opts.CommandTimeout)
	return s.c.send(milter.Abort{}, false)
}

// startMessage forgets the previous message.
func (s *Session) startMessage() {
	s.msgDone, s.msgVerdict = false, filter.Verdict{}
	s.skipCmd = 0
	s.body = s.body[:0]
	if s.spool != nil {
		s.spool.reset()
	}
}

// Abort implements filter.Session: SMFIC_ABORT, when the milter is inside
// a transaction.
func (s *Session) Abort(ctx context.Context) {
	s.startMessage()
	if s.err != nil || s.c == nil || s.connDone || !s.inTxn {
		return
	}
	s.inTxn, s.atRest = false, false
	err := s.attempt(ctx, func() error {
		s.c.begin(s.m.opts.CommandTimeout)
		if err := s.c.send(milter.Abort{}, false); err != nil {
			return err
		}
		return s.c.flush(milter.CmdAbort)
	})
	if err != nil {
		s.fail(s.last, fmt.Errorf("sending SMFIC_ABORT: %w", err))
	}
}
