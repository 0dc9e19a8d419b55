package milterclient

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/filter"
	"github.com/sluice-mta/sluice/milter"
)

// EndOfMessage implements filter.Session: the rest of the body, then
// SMFIC_BODYEOB; every modification reply becomes an edit on mod, applied
// only once the final verdict has arrived (a milter that fails midway
// leaves no half of its edits behind). SMFIR_PROGRESS restarts the timer
// and is passed on through mod.Progress.
func (s *Session) EndOfMessage(ctx context.Context, mod *filter.Modifier) filter.Verdict {
	if mod == nil {
		mod = filter.NewModifier(filter.AllEdits, nil)
	}
	defer s.endMessage()
	if s.err != nil {
		return s.fallbackEOM(mod)
	}
	if v, stop := s.gate(filter.StageEndOfMessage); stop {
		return v
	}
	v := s.flushBody(ctx)
	switch {
	case s.err != nil:
		return s.fallbackEOM(mod)
	case v.Action != filter.ActionContinue && v.Action != filter.ActionSkip:
		return v
	}
	s.inTxn, s.last, s.atRest = true, filter.StageEndOfMessage, false
	var edits []filter.Edit
	err := s.attempt(ctx, func() (err error) {
		v, edits, err = s.endOfBody(func() { mod.Progress(ctx) })
		return err
	})
	if err != nil {
		s.fail(filter.StageEndOfMessage, err)
		return s.fallbackEOM(mod)
	}
	if v.Terminal() {
		return v
	}
	for _, e := range edits {
		if err := applyEdit(mod, e); err != nil {
			s.log.Error("cannot apply the milter's edit; temporary failure", "edit", e.String(), "err", err.Error())
			return filter.CustomReply(451, "4.3.0", "Error applying message changes - try again later")
		}
	}
	return v
}

// endMessage forgets the message's decisions; the milter stays inside
// the transaction until SMFIC_ABORT (sent before the next one).
func (s *Session) endMessage() {
	s.msgDone, s.msgVerdict = false, filter.Verdict{}
	s.skipCmd = 0
	s.body = s.body[:0]
}

// endOfBody sends SMFIC_BODYEOB and reads modifications up to the final
// verdict.
func (s *Session) endOfBody(onProgress func()) (filter.Verdict, []filter.Edit, error) {
	timeout := s.m.opts.EOMTimeout
	s.c.begin(timeout)
	if s.spool == nil {
		s.spool = newBodySpool(s.m.opts.TempDir, s.m.opts.MemoryBody, s.m.opts.MaxReplacementBody)
	}
	s.spool.reset()
	if err := s.c.checkQuiet(); err != nil {
		return filter.Verdict{}, nil, err
	}
	if err := s.sendMacros(filter.StageEndOfMessage, milter.CmdEndOfBody); err != nil {
		return filter.Verdict{}, nil, err
	}
	if err := s.c.send(milter.EndOfBody{}, false); err != nil {
		return filter.Verdict{}, nil, err
	}
	if err := s.c.flush(milter.CmdEndOfBody); err != nil {
		return filter.Verdict{}, nil, err
	}
	scratch := filter.NewModifier(filter.AllEdits, nil)
	bodyEdit := false
	for edits := 0; ; {
		resp, err := s.c.readReply(milter.CmdEndOfBody, timeout, onProgress)
		if err != nil {
			return filter.Verdict{}, nil, err
		}
		if milter.RequiredAction(resp.Code()) == 0 {
			v, err := s.verdict(filter.StageEndOfMessage, milter.CmdEndOfBody, resp)
			if err == nil {
				err = s.c.checkQuiet()
			}
			_, cont := resp.(milter.Continue)
			s.atRest = cont && err == nil
			return v, scratch.Edits(), err
		}
		if rb, ok := resp.(milter.ReplaceBody); !ok || len(rb.Chunk) == 0 {
			if edits++; edits > s.m.opts.MaxEdits {
				return filter.Verdict{}, nil, fmt.Errorf("more than %d modifications at end of message", s.m.opts.MaxEdits)
			}
		}
		if err := s.record(scratch, resp, &bodyEdit); err != nil {
			return filter.Verdict{}, nil, err
		}
		s.c.nc.SetReadDeadline(time.Now().Add(timeout))
	}
}

// record checks one modification reply and records it on scratch, which
// allows every edit and checks its form as the engine's Modifier will.
func (s *Session) record(scratch *filter.Modifier, resp milter.Response, bodyEdit *bool) error {
	need := milter.RequiredAction(resp.Code())
	if s.neg.Actions&need == 0 {
		return fmt.Errorf("milter sent %s without negotiating %s", milter.ResponseName(resp.Code()), need)
	}
	var err error
	switch r := resp.(type) {
	case milter.AddHeader:
		err = scratch.AddHeader(r.Name, s.editValue(r.Value))
	case milter.InsertHeader:
		err = scratch.InsertHeader(int(r.Index), r.Name, s.editValue(r.Value))
	case milter.ChangeHeader:
		index := max(int(r.Index), 1) // Sendmail treats 0 as 1
		if r.Value == "" {
			err = scratch.DeleteHeader(r.Name, index)
		} else {
			err = scratch.ChangeHeader(r.Name, index, s.editValue(r.Value))
		}
	case milter.AddRcpt:
		err = scratch.AddRecipient(envelope.Address{Addr: unangle(r.Rcpt)})
	case milter.AddRcptPar:
		err = scratch.AddRecipient(envelope.Address{Addr: unangle(r.Rcpt), Params: envelope.ParseParams(r.Args)})
	case milter.DelRcpt:
		err = scratch.DeleteRecipient(unangle(r.Rcpt))
	case milter.ChangeFrom:
		err = scratch.ChangeSender(envelope.Address{Addr: unangle(r.From), Params: envelope.ParseParams(r.Args)})
	case milter.Quarantine:
		err = scratch.Quarantine(s.reason(r.Reason))
	case milter.ReplaceBody:
		if err = s.spool.writeCRLF(r.Chunk); err == nil && !*bodyEdit {
			*bodyEdit = true
			err = scratch.ReplaceBody(s.spool.reader())
		}
	default:
		return errUnexpected(resp, milter.CmdEndOfBody)
	}
	if err != nil {
		return fmt.Errorf("bad %s: %w", milter.ResponseName(resp.Code()), err)
	}
	return nil
}

// editValue renders a header value from the milter the way the session
// declared (Needs.HeaderLeadingSpace): with its leading space, which a
// milter without SMFIP_HDR_LEADSPC leaves to the MTA; and with CRLF line
// ends in folded values (milters use LF, as Sendmail does).
func (s *Session) editValue(v string) string {
	if strings.IndexByte(v, '\n') >= 0 {
		v = strings.ReplaceAll(strings.ReplaceAll(v, "\r\n", "\n"), "\n", "\r\n")
	}
	if !s.neg.has(milter.ProtoHdrLeadSpace) {
		v = " " + v
	}
	return v
}

// reason keeps a quarantine reason whole, but on one line.
func (s *Session) reason(r string) string {
	if r == "" {
		return "quarantined by milter " + s.m.opts.Name
	}
	if strings.ContainsAny(r, "\r\n\x00") {
		r = strings.Map(func(c rune) rune {
			if c == '\r' || c == '\n' || c == 0 {
				return ' '
			}
			return c
		}, r)
	}
	return r
}

func unangle(a string) string {
	if len(a) >= 2 && a[0] == '<' && a[len(a)-1] == '>' {
		return a[1 : len(a)-1]
	}
	return a
}

// applyEdit records e, already checked, on the engine's Modifier.
func applyEdit(mod *filter.Modifier, e filter.Edit) error {
	switch e.Kind {
	case filter.AddHeader:
		return mod.AddHeader(e.Name, e.Value)
	case filter.InsertHeader:
		return mod.InsertHeader(e.Index, e.Name, e.Value)
	case filter.ChangeHeader:
		return mod.ChangeHeader(e.Name, e.Index, e.Value)
	case filter.DeleteHeader:
		return mod.DeleteHeader(e.Name, e.Index)
	case filter.AddRecipient:
		return mod.AddRecipient(e.Address)
	case filter.DeleteRecipient:
		return mod.DeleteRecipient(e.Address.Addr)
	case filter.ChangeSender:
		return mod.ChangeSender(e.Address)
	case filter.ReplaceBody:
		return mod.ReplaceBody(e.Body)
	case filter.Quarantine:
		return mod.Quarantine(e.Reason)
	}
	return fmt.Errorf("unknown edit %v", e.Kind)
}
