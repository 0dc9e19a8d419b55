package smtpd

import (
	"errors"
	"io"
	"net"
	"strconv"
	"strings"

	"github.com/sluice-mta/sluice/filter"
)

// cmdData receives a message with DATA (RFC 5321 §4.1.1.4).
func (s *session) cmdData(args string) {
	if args != "" {
		s.fail(errorf(codeSyntaxParam, esBadArgs, "Syntax: DATA"))
		return
	}
	if e := s.dataReady(); e != nil {
		s.fail(e)
		return
	}
	if s.tx.bdat {
		s.fail(errorf(codeBadSequence, esInvalidCommand, "DATA not allowed after BDAT"))
		return
	}
	if e := s.startContent(); e != nil {
		s.answer(e)
		return
	}
	s.reply(codeStartData, "", "End data with <CR><LF>.<CR><LF>")
	s.flush()
	if s.closing {
		return
	}
	s.dc.timeout = s.opts.Timeouts.Data
	if err := readDot(s.br, s.tx.rx); err != nil {
		s.contentReadFailed(err)
		return
	}
	s.finishMessage(s.tx.rx)
}

// dataReady checks that the transaction can take content.
func (s *session) dataReady() *Error {
	switch {
	case s.tx == nil:
		return errorf(codeBadSequence, esInvalidCommand, "Need MAIL command")
	case len(s.tx.rcpts) == 0 && s.tx.tried > 0:
		return errorf(codeFailed, esInvalidCommand, "No valid recipients")
	case len(s.tx.rcpts) == 0:
		return errorf(codeBadSequence, esInvalidCommand, "Need RCPT command")
	}
	return nil
}

// startContent runs the filter's DATA stage and prepares to receive. A
// refusal ends the transaction.
func (s *session) startContent() *Error {
	tx := s.tx
	tx.dataSeen = true
	if !tx.filterDone {
		v := s.call(filter.StageData, func(f filter.Session) filter.Verdict { return f.Data(s.ctx) })
		switch {
		case v.Action == filter.ActionDiscard:
			tx.discard, tx.filterDone = true, true
		case v.Terminal():
			e := s.verdictError(filter.StageData, v)
			s.logRejected(tx, "data-command", e)
			s.endTx()
			return e
		}
	}
	tx.rx = newReceiver(s, tx)
	return nil
}

// contentReadFailed ends a session whose content stopped coming.
func (s *session) contentReadFailed(err error) {
	id := ""
	if s.tx != nil {
		id = s.tx.draft.ID()
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		s.log.Info("smtpd: timeout", "stage", "data", "id", id)
		s.reply(codeUnavailable, esTimeout, s.opts.Hostname+" Timeout exceeded, closing connection")
	} else {
		s.log.Info("smtpd: connection lost during content", "id", id, "err", err)
	}
	s.closing = true
}

// cmdBdat receives one chunk of a message (RFC 3030 §2). The chunk is
// read whatever the answer, so that the next command is found; a size
// that cannot be parsed, or a chunk larger than a whole message may be,
// ends the session instead.
func (s *session) cmdBdat(args string) {
	size, last, ok := parseBdat(args)
	switch {
	case !ok:
		s.fail(errorf(codeSyntaxParam, esBadArgs, "Syntax: BDAT size [LAST]"))
		s.closing = true
		return
	case size > s.opts.MaxMessageSize:
		s.answer(errorf(codeTooBig, esTooBig, "Message size exceeds fixed maximum message size"))
		s.closing = true
		return
	}
	e := s.dataReady()
	if e == nil && s.tx.bdatErr != nil {
		e = s.tx.bdatErr
	}
	if e == nil && !s.tx.dataSeen {
		s.tx.bdat = true
		e = s.startContent()
	}
	var w io.Writer = io.Discard
	if e == nil {
		w = s.tx.rx
	}
	s.dc.timeout = s.opts.Timeouts.Data
	if _, err := io.CopyN(w, s.br, size); err != nil {
		s.contentReadFailed(err)
		return
	}
	switch {
	case e != nil:
		if last {
			s.endTx()
		}
		s.answer(e)
	case last:
		s.finishMessage(s.tx.rx)
	default:
		if f := s.tx.rx.failure(); f != nil {
			s.tx.bdatErr = f
			s.answer(f)
			return
		}
		s.reply(codeOK, esOK, strconv.FormatInt(size, 10)+" octets received")
	}
}

// parseBdat parses "size [LAST]".
func parseBdat(args string) (size int64, last bool, ok bool) {
	f := strings.Split(args, " ")
	if len(f) > 2 || len(f[0]) == 0 || len(f[0]) > 18 {
		return 0, false, false
	}
	for _, c := range []byte(f[0]) {
		if c < '0' || c > '9' {
			return 0, false, false
		}
	}
	size, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return 0, false, false
	}
	if len(f) == 2 {
		if !strings.EqualFold(f[1], "LAST") {
			return 0, false, false
		}
		last = true
	}
	return size, last, true
}
