package smtpd

import (
	"strconv"
	"strings"

	"github.com/sluice-mta/sluice/filter"
)

// bodyChunk is the most body given to a filter at once: the milter
// protocol's limit.
const bodyChunk = 65535

// receiver takes a message's content as it streams in (DATA after its
// framing, or BDAT chunks), in one pass: it normalizes line ends and
// checks limits, splits the header section (kept, bounded) from the body
// (streamed to the draft), and calls the filter per header field, at the
// end of the header section and per body chunk. A failure or a filter's
// terminal verdict stops the processing; the rest of the content is only
// read, and the end of the message is answered with it.
type receiver struct {
	s     *session
	tx    *transaction
	norm  normalizer
	split splitter

	fields   []filter.HeaderField // as received: values with their leading space
	bodySize int64

	stopped  bool           // failed, or a terminal verdict: only read the rest
	err      *Error         // the failure, if any
	verdict  filter.Verdict // the filter's terminal verdict, if any
	filterOn bool           // the filter gets header and end-of-header calls
	bodyOn   bool           // ... and body chunks
	chunk    []byte
}

func newReceiver(s *session, tx *transaction) *receiver {
	rx := &receiver{s: s, tx: tx}
	rx.filterOn = s.flt != nil && !tx.filterDone
	rx.bodyOn = rx.filterOn && !s.needs.Skip.Has(filter.StageBody)
	rx.norm = normalizer{out: rx.clean, maxLine: s.opts.MaxLineLength - 2}
	rx.split = splitter{maxHeader: s.opts.MaxHeaderBytes, field: rx.field, endHeader: rx.endHeader, body: rx.body}
	return rx
}

// Write takes content as the client sent it (dot-stuffing removed). It
// never fails: the content must be read to its end whatever happens.
func (rx *receiver) Write(p []byte) (int, error) {
	if !rx.stopped {
		_, _ = rx.norm.Write(p)
		rx.check()
	}
	return len(p), nil
}

// finish ends the content.
func (rx *receiver) finish() {
	if rx.stopped {
		return
	}
	rx.norm.Close()
	rx.check()
	if rx.stopped {
		return
	}
	rx.split.Close()
	if !rx.stopped && rx.bodyOn && len(rx.chunk) > 0 {
		rx.flushBody()
	}
}

// check refuses the message once it breaks a rule.
func (rx *receiver) check() {
	o := rx.s.opts
	switch {
	case rx.norm.bare && o.BareLF == BareLFReject:
		rx.fail(errorf(codeMailboxDenied, esMedia, "Message contains a bare CR or LF; lines must end with CRLF (RFC 5321 section 2.3.8)"))
	case rx.norm.long:
		rx.fail(errorf(codeSyntax, esMedia, "Line longer than "+strconv.Itoa(o.MaxLineLength)+" octets (RFC 5321 section 4.5.3.1.6)"))
	case rx.norm.size > o.MaxMessageSize:
		rx.fail(errorf(codeTooBig, esTooBig, "Message size exceeds fixed maximum message size"))
	case rx.split.tooBig:
		rx.fail(errorf(codeTooBig, esTooBig, "Message header section too large"))
	}
}

func (rx *receiver) fail(e *Error) {
	if rx.err == nil {
		rx.err = e
	}
	rx.stopped = true
}

// failure is the reply the message gets at its end when it cannot be
// accepted: a failure, or a refusal by the filter (not a discard).
func (rx *receiver) failure() *Error {
	if rx.err != nil {
		return rx.err
	}
	if rx.verdict.Terminal() && rx.verdict.Action != filter.ActionDiscard {
		return rx.s.verdictError(filter.StageEndOfMessage, rx.verdict)
	}
	return nil
}

// clean receives normalized content.
func (rx *receiver) clean(p []byte) {
	if !rx.stopped {
		rx.split.Write(p)
	}
}

func (rx *receiver) field(name, value string) {
	rx.fields = append(rx.fields, filter.HeaderField{Name: name, Value: value})
	if !rx.filterOn || rx.s.needs.Skip.Has(filter.StageHeader) {
		return
	}
	if !rx.s.needs.HeaderLeadingSpace {
		value = strings.TrimPrefix(value, " ")
	}
	rx.note(filter.StageHeader, rx.s.flt.Header(rx.s.ctx, name, value))
}

func (rx *receiver) endHeader(bool) {
	if !rx.filterOn || rx.s.needs.Skip.Has(filter.StageEndOfHeaders) {
		return
	}
	rx.note(filter.StageEndOfHeaders, rx.s.flt.EndOfHeaders(rx.s.ctx))
}

func (rx *receiver) body(p []byte) {
	if rx.stopped {
		return
	}
	if !rx.tx.discard {
		if _, err := rx.tx.draft.Write(p); err != nil {
			rx.s.log.Warn("smtpd: spool write failed", "id", rx.tx.draft.ID(), "err", err)
			rx.fail(spoolError(err))
			return
		}
	}
	rx.bodySize += int64(len(p))
	if !rx.bodyOn {
		return
	}
	for len(p) > 0 && rx.bodyOn {
		n := min(len(p), bodyChunk-len(rx.chunk))
		rx.chunk = append(rx.chunk, p[:n]...)
		p = p[n:]
		if len(rx.chunk) == bodyChunk {
			rx.flushBody()
		}
	}
}

func (rx *receiver) flushBody() {
	v := rx.s.flt.Body(rx.s.ctx, rx.chunk)
	rx.chunk = rx.chunk[:0]
	rx.note(filter.StageBody, v)
}

// note applies a filter's verdict at a content stage.
func (rx *receiver) note(st filter.Stage, v filter.Verdict) {
	switch {
	case v.Action == filter.ActionAccept:
		rx.filterOn, rx.bodyOn = false, false
	case v.Action == filter.ActionSkip && st == filter.StageBody:
		rx.bodyOn = false
	case v.Terminal():
		rx.verdict = v
		rx.filterOn, rx.bodyOn, rx.stopped = false, false, true
		rx.tx.filterDone = true
	}
}
