package smtpd

import (
	"strings"

	"github.com/sluice-mta/sluice/filter"
)

// openFilter opens the filter session and runs the connect stage. It
// reports false when the session must end at once.
func (s *session) openFilter() bool {
	sess, err := s.opts.Filter.NewSession(s.ctx, s.macros)
	if err != nil {
		s.log.Warn("smtpd: cannot open a filter session", "err", err)
		s.reply(codeUnavailable, esTempLocal, s.opts.Hostname+" Service temporarily unavailable, try again later")
		return false
	}
	s.flt, s.needs = sess, s.opts.Filter.Needs()
	return s.filterConnect()
}

// filterConnect runs the connect stage. A refusal becomes the greeting:
// 421 (closing) for a temporary one; 554 for a permanent one, after which
// every command but QUIT gets 503 (RFC 5321 §3.1). A discard there
// discards every message of the connection. It reports false when the
// session must end.
func (s *session) filterConnect() bool {
	conn := s.client()
	v := s.call(filter.StageConnect, func(f filter.Session) filter.Verdict { return f.Connect(s.ctx, &conn) })
	switch {
	case v.Action == filter.ActionDiscard:
		s.discardAll = true
	case v.Terminal():
		e := s.verdictError(filter.StageConnect, v)
		s.log.Info("smtpd: rejected", "stage", "connect", "code", e.Code, "reply", e.Message)
		if e.Code/100 == 4 {
			e.Code = codeUnavailable
			s.answer(e)
			return false
		}
		e.Code = codeFailed
		s.answer(e)
		s.denied = true
	}
	return true
}

// call runs fn on the filter session, unless there is none or the filter
// skips the stage.
func (s *session) call(st filter.Stage, fn func(filter.Session) filter.Verdict) filter.Verdict {
	if s.flt == nil || s.needs.Skip.Has(st) {
		return filter.Continue
	}
	return fn(s.flt)
}

// verdictError is the reply to a terminal verdict at stage st: the
// filter's own when it is valid, else the stage's default. A filter reply
// without an enhanced code gets X.7.1.
func (s *session) verdictError(st filter.Stage, v filter.Verdict) *Error {
	if r := v.Reply; r != nil {
		if err := r.Validate(); err != nil {
			s.log.Warn("smtpd: filter reply not usable", "stage", st.String(), "err", err)
		} else {
			enh := r.Enhanced
			if enh == "" {
				enh = esPolicy
				if r.Code/100 == 4 {
					enh = esTempPolicy
				}
			}
			return errorf(r.Code, enh, strings.Join(r.Lines, "\n"))
		}
	}
	if v.Action == filter.ActionTempFail {
		if st == filter.StageRcpt {
			return errorf(codeMailboxBusy, esTempPolicy, "Recipient temporarily refused, try again later")
		}
		return errorf(codeLocalError, esTempPolicy, "Service temporarily unavailable, try again later")
	}
	switch st {
	case filter.StageConnect:
		return errorf(codeFailed, esPolicy, "Access denied")
	case filter.StageHelo:
		return errorf(codeMailboxDenied, esPolicy, "Helo command rejected")
	case filter.StageMail:
		return errorf(codeMailboxDenied, esPolicy, "Sender address rejected")
	case filter.StageRcpt:
		return errorf(codeMailboxDenied, esPolicy, "Recipient address rejected")
	case filter.StageUnknown:
		return errorf(codeSyntax, esInvalidCommand, "Command not recognized")
	}
	return errorf(codeMailboxDenied, esPolicy, "Message content rejected")
}
