package smtpd

import (
	"errors"
	"strings"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/filter"
	"github.com/sluice-mta/sluice/xclient"
)

// transaction is one MAIL ... end of message (or RSET).
type transaction struct {
	draft Draft
	from  envelope.Address
	rcpts []envelope.Address
	info  mailInfo
	tried int // RCPT commands seen, accepted or not

	filtered   bool // the filter saw MAIL: it gets Abort unless EndOfMessage ends the message
	eomDone    bool // the filter's EndOfMessage was called
	filterDone bool // no more filter calls for this message
	discard    bool // accept the message and throw it away

	dataSeen bool      // DATA or the first BDAT came
	bdat     bool      // the content comes in BDAT chunks
	bdatErr  *Error    // a chunk failed: the rest get this reply
	rx       *receiver // the content being received
}

// cmdMail starts a transaction (RFC 5321 §4.1.1.2): the spool draft is
// created here so that filters know the queue ID from the MAIL stage on.
func (s *session) cmdMail(args string) {
	switch {
	case !s.greeted:
		s.fail(errorf(codeBadSequence, esInvalidCommand, "Send HELO or EHLO first"))
		return
	case s.tx != nil:
		s.fail(errorf(codeBadSequence, esInvalidCommand, "Nested MAIL command"))
		return
	}
	pa, ok := parsePathArg(args, "FROM")
	if !ok || (pa.addr != "" && envelope.Domain(pa.addr) == "") {
		s.fail(errorf(codeSyntaxParam, esBadSender, "Bad sender address syntax; use MAIL FROM:<address>"))
		return
	}
	from, info, e := s.mailParams(pa)
	if e != nil {
		s.fail(e)
		return
	}
	draft, err := s.opts.Spool.Create(s.ctx)
	if err != nil {
		s.log.Warn("smtpd: spool cannot create a message", "err", err)
		s.answer(spoolError(err))
		return
	}
	tx := &transaction{draft: draft, from: from, info: info, discard: s.discardAll}
	s.tx = tx
	if s.fwd != nil && s.wantClientMacros() {
		s.setClientMacros(s.txClient())
	}
	s.setMailMacros(draft.ID(), from)
	tx.filtered = s.flt != nil
	v := s.call(filter.StageMail, func(f filter.Session) filter.Verdict { return f.Mail(s.ctx, from) })
	switch {
	case v.Action == filter.ActionDiscard:
		tx.discard, tx.filterDone = true, true
	case v.Terminal():
		e := s.verdictError(filter.StageMail, v)
		s.log.Info("smtpd: rejected", "stage", "mail", "from", from.Addr, "code", e.Code, "reply", e.Message)
		s.endTx()
		s.fail(e)
		return
	}
	s.reply(codeOK, esSenderOK, "Ok")
}

// mailParams checks MAIL's parameters.
func (s *session) mailParams(pa pathArg) (envelope.Address, mailInfo, *Error) {
	params, e := parseParams(pa.params)
	if e == nil && len(params) > 0 && !s.esmtp {
		e = errorf(codeBadParams, esBadArgs, "Parameters need EHLO")
	}
	if e != nil {
		return envelope.Address{}, mailInfo{}, e
	}
	info, e := checkMailParams(params, s.opts.MaxMessageSize)
	if e == nil && pa.nonASCII && !info.smtputf8 {
		e = errorf(codeBadMailbox, esNonASCII, "Non-ASCII address needs SMTPUTF8")
	}
	if e == nil {
		s.keepAuthor(params)
	}
	return envelope.Address{Addr: pa.addr, Params: params}, info, e
}

// keepAuthor sets the AUTH parameter (checked by checkMailParams) kept
// in the envelope, and so passed downstream (RFC 4954 §5): the mailbox
// (or <>) a client that authenticated supplied, with AUTH or as an
// XCLIENT LOGIN from an authorised proxy says, xtext-encoded anew; <> for
// any other client, whose claim cannot be trusted.
func (s *session) keepAuthor(params []envelope.Param) {
	for i, p := range params {
		if p.Key != "AUTH" {
			continue
		}
		author, _ := parseAuthor(p.Value)
		v := nullAuthor
		switch {
		case s.authenticated():
			v = xclient.EncodeXtext(author)
		case author != nullAuthor:
			s.log.Debug("smtpd: AUTH parameter of an unauthenticated client taken as <>", "author", author)
		}
		params[i].Value = v
	}
}

// cmdRcpt adds a recipient (RFC 5321 §4.1.1.3), after the relay check
// and the filter's verdict for this recipient alone.
func (s *session) cmdRcpt(args string) {
	tx := s.tx
	switch {
	case tx == nil:
		s.fail(errorf(codeBadSequence, esInvalidCommand, "Need MAIL command"))
		return
	case tx.dataSeen:
		s.fail(errorf(codeBadSequence, esInvalidCommand, "RCPT not allowed after BDAT"))
		return
	}
	tx.tried++
	to, e := s.rcptAddress(args)
	if e != nil {
		s.fail(e)
		return
	}
	if len(tx.rcpts) >= s.opts.MaxRecipients {
		s.answer(errorf(codeNoStorage, esTooManyRcpts, "Too many recipients"))
		return
	}
	if !s.mayRelayTo(to.Addr) {
		s.refuseRcpt(to, errorf(codeFailed, esPolicy, "<"+to.Addr+">: Relay access denied"), "relay access denied")
		return
	}
	// Verification comes after relay control and before the filters: an
	// address the downstream does not know is refused like one this
	// server does not relay for, and filters (greylisting, rate limits)
	// never count it.
	if e := s.verifyRcpt(to); e != nil {
		s.refuseRcpt(to, e, "recipient verification: "+e.Message)
		return
	}
	s.setRcptMacros(to.Addr)
	v := s.rcptVerdict(to)
	switch {
	case v.Action == filter.ActionDiscard:
		tx.discard, tx.filterDone = true, true
	case v.Terminal():
		e := s.verdictError(filter.StageRcpt, v)
		s.log.Info("smtpd: rejected", "stage", "rcpt", "from", tx.from.Addr, "to", to.Addr, "code", e.Code, "reply", e.Message)
		s.srv.obs.RecipientRejected(e.Code)
		s.fail(e)
		return
	}
	if !hasRecipient(tx.rcpts, to.Addr) {
		tx.rcpts = append(tx.rcpts, to)
	}
	s.reply(codeOK, esRecipientOK, "Ok")
}

// refuseRcpt answers e to a RCPT the server refuses before the filter's
// verdict, and tells the filters that want to know.
func (s *session) refuseRcpt(to envelope.Address, e *Error, reason string) {
	s.log.Info("smtpd: rejected", "stage", "rcpt", "from", s.tx.from.Addr, "to", to.Addr, "code", e.Code, "reply", reason)
	s.rejectedRcpt(to, e)
	s.srv.obs.RecipientRejected(e.Code)
	s.fail(e)
}

// rcptAddress parses and checks RCPT's argument.
func (s *session) rcptAddress(args string) (envelope.Address, *Error) {
	pa, ok := parsePathArg(args, "TO")
	if !ok || pa.addr == "" {
		return envelope.Address{}, errorf(codeSyntaxParam, esBadRecipient, "Bad recipient address syntax; use RCPT TO:<address>")
	}
	params, e := parseParams(pa.params)
	switch {
	case e != nil:
	case len(params) > 0 && !s.esmtp:
		e = errorf(codeBadParams, esBadArgs, "Parameters need EHLO")
	case pa.nonASCII && !s.tx.info.smtputf8:
		e = errorf(codeBadMailbox, esNonASCII, "Non-ASCII address needs SMTPUTF8")
	default:
		e = checkRcptParams(params)
	}
	return envelope.Address{Addr: pa.addr, Params: params}, e
}

// rcptVerdict asks the filter about a recipient the server accepts.
func (s *session) rcptVerdict(to envelope.Address) filter.Verdict {
	if s.tx.filterDone {
		return filter.Continue
	}
	return s.call(filter.StageRcpt, func(f filter.Session) filter.Verdict { return f.Rcpt(s.ctx, to) })
}

// rejectedRcpt tells a filter that wants them about a recipient the
// server refused; its verdict does not matter.
func (s *session) rejectedRcpt(to envelope.Address, e *Error) {
	if !s.needs.RejectedRecipients || s.tx.filterDone {
		return
	}
	s.setRejectedRcptMacros(e)
	s.call(filter.StageRcpt, func(f filter.Session) filter.Verdict { return f.Rcpt(s.ctx, to) })
}

// mayRelayTo is the relay control: any recipient for authenticated
// clients and trusted networks (the client as XCLIENT describes it);
// otherwise only the relay domains, and only without sender-specified
// routing in the local part ("a%b@relay", "b!a@relay", "\"a@b\"@relay"),
// which a downstream that trusts this server could honour.
func (s *session) mayRelayTo(addr string) bool {
	if s.authenticated() || xclient.Networks(s.opts.TrustedNetworks).Allows(s.who.Conn.ClientAddr.Addr()) {
		return true
	}
	if strings.EqualFold(addr, "postmaster") {
		return true // RFC 5321 §4.1.1.3: this server's postmaster
	}
	at := strings.LastIndexByte(addr, '@')
	if at < 0 || strings.ContainsAny(addr[:at], "%!@") {
		return false
	}
	return s.inRelayDomain(addr)
}

func hasRecipient(rcpts []envelope.Address, addr string) bool {
	for _, r := range rcpts {
		if strings.EqualFold(r.Addr, addr) {
			return true
		}
	}
	return false
}

// endTx ends the transaction, if any: the filter is told (Abort) unless
// it saw the end of the message, and an uncommitted draft is discarded.
// XFORWARD information, which is for one transaction, is forgotten.
func (s *session) endTx() {
	tx := s.tx
	if tx == nil {
		return
	}
	s.tx = nil
	if tx.filtered && !tx.eomDone && s.flt != nil {
		s.flt.Abort(s.ctx)
	}
	if tx.draft != nil {
		if err := tx.draft.Abort(); err != nil {
			s.log.Warn("smtpd: spool abort failed", "id", tx.draft.ID(), "err", err)
		}
	}
	s.clearTxMacros()
	if s.fwd != nil {
		s.fwd = nil
		if s.wantClientMacros() {
			s.setClientMacros(s.client())
		}
	}
}

// spoolError is the reply to a spool failure.
func spoolError(err error) *Error {
	if errors.Is(err, ErrSpoolTemporary) {
		return asError(err, errorf(codeNoStorage, esTempStorage, "Insufficient system storage, try again later"))
	}
	return asError(err, errorf(codeLocalError, esTempLocal, "Local error in processing, try again later"))
}
