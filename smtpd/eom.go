package smtpd

import (
	"errors"
	"io"
	"strings"
	"time"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/filter"
)

// finishMessage answers the end of a message: the content's own failure,
// or the filter's end-of-message verdict and edits, then the spool's
// durable commit before 250. The transaction ends whatever happens, and
// the observer hears of the outcome.
func (s *session) finishMessage(rx *receiver) {
	defer s.endTx()
	s.srv.obs.Message(s.endMessage(s.tx, rx))
}

// endMessage answers the end of the message of tx and returns what
// became of it.
func (s *session) endMessage(tx *transaction, rx *receiver) MessageOutcome {
	rx.finish()
	if e := rx.failure(); e != nil {
		s.logRejected(tx, "data", e)
		return s.refuseMessage(e)
	}
	arrived := s.opts.Clock()
	discard := tx.discard || rx.verdict.Action == filter.ActionDiscard
	var edits []filter.Edit
	if !discard && tx.filtered && !tx.filterDone && s.flt != nil {
		mod := filter.NewModifier(filter.AllEdits, nil)
		v := s.flt.EndOfMessage(s.ctx, mod)
		tx.eomDone = true
		switch {
		case v.Action == filter.ActionDiscard:
			discard = true
		case v.Terminal():
			e := s.verdictError(filter.StageEndOfMessage, v)
			s.logRejected(tx, "eom", e)
			return s.refuseMessage(e)
		}
		edits = mod.Edits()
	}
	if discard {
		s.log.Info("smtpd: discarded", "id", tx.draft.ID(), "from", tx.from.Addr, "rcpts", len(tx.rcpts))
		s.reply(codeOK, esOK, "Ok: queued as "+tx.draft.ID())
		return MessageOutcome{Result: MessageDiscarded}
	}
	return s.commit(tx, rx, edits, arrived)
}

// refuseMessage answers e to a message.
func (s *session) refuseMessage(e *Error) MessageOutcome {
	s.answer(e)
	return refusedOutcome(e)
}

// commit applies the edits and stores the message.
func (s *session) commit(tx *transaction, rx *receiver, edits []filter.Edit, arrived time.Time) MessageOutcome {
	ed := s.applyEdits(tx, rx.fields, edits)
	if e := s.checkEditedRcpts(tx, ed.rcpts); e != nil {
		s.logRejected(tx, "eom", e)
		return s.refuseMessage(e)
	}
	var err error
	if ed.body != nil {
		err = s.replaceBody(tx, rx, ed.body)
	}
	if err != nil {
		e := asError(err, errorf(codeLocalError, esTempLocal, "Local error in processing, try again later"))
		s.log.Warn("smtpd: applying filter edits failed", "id", tx.draft.ID(), "err", err)
		return s.refuseMessage(e)
	}
	if len(ed.rcpts) == 0 {
		s.log.Info("smtpd: discarded", "id", tx.draft.ID(), "from", ed.from.Addr, "reason", "filters removed every recipient")
		s.reply(codeOK, esOK, "Ok: queued as "+tx.draft.ID())
		return MessageOutcome{Result: MessageDiscarded}
	}
	msg := &Message{
		Envelope:   envelope.Envelope{QueueID: tx.draft.ID(), From: ed.from, Recipients: ed.rcpts},
		Client:     s.txClient(),
		BodySize:   rx.bodySize,
		Quarantine: ed.quarantine,
		Arrived:    arrived,
	}
	msg.Header = renderHeader(s.received(msg), ed.fields)
	if err := tx.draft.Commit(s.ctx, msg); err != nil {
		e := spoolError(err)
		s.log.Warn("smtpd: spool commit failed", "id", msg.Envelope.QueueID, "err", err, "code", e.Code)
		return s.refuseMessage(e)
	}
	tx.draft = nil // committed: nothing to abort
	size := int64(len(msg.Header)) + msg.BodySize
	s.log.Info("smtpd: queued", "id", msg.Envelope.QueueID, "from", ed.from.Addr, "rcpts", len(ed.rcpts),
		"size", size, "proto", msg.Client.Proto, "client_name", msg.Client.ClientName,
		"quarantine", msg.Quarantine)
	s.reply(codeOK, esOK, "Ok: queued as "+msg.Envelope.QueueID)
	return MessageOutcome{Result: MessageQueued, Size: size, Rcpts: len(ed.rcpts)}
}

// checkEditedRcpts bounds the recipients of a message after the filters'
// edits by MaxRecipients, as the RCPT commands were: a message the
// filters pushed beyond it is refused for now (451 4.5.3), since queueing
// it would let a filter fan it out without limit.
func (s *session) checkEditedRcpts(tx *transaction, rcpts []envelope.Address) *Error {
	limit := s.opts.MaxRecipients
	if len(rcpts) <= limit || len(rcpts) <= len(tx.rcpts) {
		return nil
	}
	s.log.Warn("smtpd: filters added too many recipients; message refused", "id", tx.draft.ID(),
		"rcpts", len(tx.rcpts), "edited_rcpts", len(rcpts), "limit", limit, "filter", s.rcptAdders())
	return errorf(codeLocalError, esTooManyRcpts, "Too many recipients added by content filters, try again later")
}

// rcptAdders names the filters that may add recipients: the members of a
// chain (any filter with a Filters method) that declared the edit, or
// the filter itself.
func (s *session) rcptAdders() string {
	f := s.opts.Filter
	ch, ok := f.(interface{ Filters() []filter.Filter })
	if !ok {
		return filter.NameOf(f)
	}
	var names []string
	for _, m := range ch.Filters() {
		if m.Needs().Edits.Has(filter.EditAddRecipient) {
			names = append(names, filter.NameOf(m))
		}
	}
	if len(names) == 0 {
		return filter.NameOf(f)
	}
	return strings.Join(names, ",")
}

// replaceBody writes a body a filter replaced to a new draft, which
// replaces the transaction's: the queue ID changes. The new body is made
// CRLF-clean whatever the filter gave.
func (s *session) replaceBody(tx *transaction, rx *receiver, body io.Reader) error {
	d, err := s.opts.Spool.Create(s.ctx)
	if err != nil {
		return spoolError(err)
	}
	var werr error
	n := normalizer{maxLine: 1 << 30, out: func(p []byte) {
		if werr == nil {
			_, werr = d.Write(p)
		}
	}}
	limit := s.opts.MaxMessageSize
	if _, err := io.Copy(&n, io.LimitReader(body, limit+1)); err != nil {
		_ = d.Abort()
		return err
	}
	n.Close()
	switch {
	case werr != nil:
		_ = d.Abort()
		return spoolError(werr)
	case n.size > limit:
		_ = d.Abort()
		return errorf(codeTooBig, esTooBig, "Message size exceeds fixed maximum message size")
	}
	s.log.Info("smtpd: body replaced by a filter", "id", tx.draft.ID(), "new_id", d.ID())
	_ = tx.draft.Abort()
	tx.draft = d
	rx.bodySize = n.size
	s.setQueueID(d.ID())
	return nil
}

// logRejected logs a refused message.
func (s *session) logRejected(tx *transaction, stage string, e *Error) {
	attrs := []any{"stage", stage, "id", tx.draft.ID(), "from", tx.from.Addr, "rcpts", len(tx.rcpts), "code", e.Code, "reply", e.Message}
	if e.Err != nil && !errors.Is(e.Err, e) {
		attrs = append(attrs, "err", e.Err)
	}
	s.log.Info("smtpd: rejected", attrs...)
}
