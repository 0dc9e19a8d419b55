package smtpclient

import (
	"context"
	"errors"
	"io"

	"github.com/sluice-mta/sluice/envelope"
)

// deliver runs one mail transaction for m and returns a result for every
// recipient.
func (s *session) deliver(ctx context.Context, m *envelope.Delivery) []envelope.RcptResult {
	stop := s.watch(ctx)
	res := make([]envelope.RcptResult, len(m.To))
	err := s.transact(ctx, m, res)
	stop()
	s.messages++
	if err != nil {
		f := s.cl.ioFailure(ctx, err)
		for i := range res {
			if res[i].Status == 0 {
				res[i] = f.result(m.To[i].Addr, s.cl.remote)
			}
		}
	}
	return res
}

// transact fills res for the recipients it settles and returns the
// failure that settles the rest.
func (s *session) transact(ctx context.Context, m *envelope.Delivery, res []envelope.RcptResult) error {
	smtputf8, err := s.check(ctx, m)
	if err != nil {
		return err
	}
	content, err := m.Open(ctx)
	if err != nil {
		return deferred("4.3.0", "cannot read queued message: %v", err)
	}
	defer content.Close()

	var cmds []command
	for _, l := range s.xforwardLines(m) {
		cmds = append(cmds, command{stageXForward, l})
	}
	cmds = append(cmds, command{stageMail, s.mailLine(m, smtputf8)})
	for _, a := range m.To {
		cmds = append(cmds, command{stageRcpt, s.rcptLine(a)})
	}
	cmds = append(cmds, command{stageDataInit, "DATA"})
	p := &pipeline{s: s, cmds: cmds, window: 1}
	if s.has("PIPELINING") {
		p.window = maxPipelineGroup
	}
	accepted, err := s.envelope(m, res, p)
	if err != nil || accepted == nil {
		return err
	}
	return s.data(m, res, accepted, content, p)
}

// maxPipelineGroup bounds the commands sent before their replies are
// read: a long recipient list could otherwise fill both sides' buffers
// and leave client and server each waiting for the other to read.
const maxPipelineGroup = 100

// command is one line of the envelope and its stage.
type command struct {
	stage stage
	line  string
}

// pipeline sends the envelope commands, in groups when the server offers
// PIPELINING (RFC 2920) and one by one otherwise, and reads their replies
// in order.
type pipeline struct {
	s      *session
	cmds   []command
	sent   int // commands written so far
	window int
}

// reply returns the reply to command i, sending it (and, pipelining, the
// group it starts) first if it has not gone out.
func (p *pipeline) reply(i int) (Reply, error) {
	if i >= p.sent {
		end := min(p.sent+p.window, len(p.cmds))
		lines := make([]string, 0, end-p.sent)
		for _, c := range p.cmds[p.sent:end] {
			lines = append(lines, c.line)
		}
		if err := p.s.send(p.cmds[p.sent].stage, lines...); err != nil {
			return Reply{}, err
		}
		p.sent = end
	}
	return p.s.reply(p.cmds[i].stage)
}

// finish ends a transaction that will not reach the content: it reads the
// replies still due for commands sent from i on, closes the connection if
// a pipelined DATA was accepted (sending a message is not an option), and
// sends RSET otherwise.
func (p *pipeline) finish(i int) error {
	for ; i < p.sent; i++ {
		rep, err := p.s.reply(p.cmds[i].stage)
		if err != nil {
			return err
		}
		if p.cmds[i].stage == stageDataInit && rep.Code == 354 {
			p.s.close()
			return nil
		}
	}
	p.s.rset()
	return nil
}

// envelope runs XFORWARD, MAIL and RCPT and returns the indexes of the
// accepted recipients. A nil slice with a nil error means the transaction
// is over: every recipient has its result.
func (s *session) envelope(m *envelope.Delivery, res []envelope.RcptResult, p *pipeline) ([]int, error) {
	i := 0
	for ; p.cmds[i].stage == stageXForward; i++ {
		rep, err := p.reply(i)
		if err != nil {
			return nil, err
		}
		if rep.Code/100 != 2 {
			s.cl.log.Warn("smtpclient: XFORWARD refused", "queue_id", m.QueueID, "remote", s.cl.remote, "reply", rep.String())
		}
	}
	rep, err := p.reply(i)
	if err != nil {
		return nil, err
	}
	if rep.Code/100 != 2 {
		f := replyFailure("MAIL FROM", rep)
		if rep.Code != 421 { // after a 421 no more replies come
			_ = p.finish(i + 1) // an error here leaves the session broken; the refusal stands
		}
		return nil, f
	}
	accepted := []int{}
	for r := range m.To {
		i++
		rep, err := p.reply(i)
		switch {
		case err != nil:
			return nil, err
		case rep.Code/100 == 2:
			accepted = append(accepted, r)
		case rep.Code == 421:
			return nil, replyFailure("RCPT TO", rep) // closing: applies to the rest too
		default:
			res[r] = replyFailure("RCPT TO", rep).result(m.To[r].Addr, s.cl.remote)
		}
	}
	if len(accepted) == 0 {
		return nil, p.finish(i + 1)
	}
	return accepted, nil
}

// rset ends a transaction that did not reach DATA.
func (s *session) rset() {
	if s.broken {
		return
	}
	if rep, err := s.cmd(stageRset, "RSET"); err == nil && rep.Code != 250 {
		s.broken = true
	}
}

// data sends DATA (unless it went with the pipelined group), the content
// and the final dot, and reads the reply, or with LMTP one reply per
// accepted recipient.
func (s *session) data(m *envelope.Delivery, res []envelope.RcptResult, accepted []int, content io.Reader, p *pipeline) error {
	rep, err := p.reply(len(p.cmds) - 1)
	if err != nil {
		return err
	}
	if rep.Code != 354 {
		return replyFailure("DATA", rep)
	}
	if err := s.sendContent(content); err != nil {
		return err
	}
	h := s.handoff()
	if !s.cl.target.lmtp {
		rep, err := s.reply(stageDataFinal)
		if err != nil {
			return err
		}
		for _, i := range accepted {
			res[i] = finalResult(m.To[i].Addr, rep, s.cl.remote, h)
		}
		return nil
	}
	for _, i := range accepted { // RFC 2033 §4.2: in RCPT order
		rep, err := s.reply(stageDataFinal)
		if err != nil {
			return err
		}
		res[i] = finalResult(m.To[i].Addr, rep, s.cl.remote, h)
	}
	return nil
}

// handoff is what a delivery on this session means for success DSNs: a
// downstream that advertised DSN received NOTIFY and ORCPT (rcptLine) and
// takes over (RFC 3461 §5.2.1); otherwise an LMTP server is the final
// delivery (§5.2.3) and an SMTP server a relay that will not report
// (§5.2.2).
func (s *session) handoff() envelope.Handoff {
	switch {
	case s.has("DSN"):
		return envelope.HandoffPassedOn
	case s.cl.target.lmtp:
		return envelope.HandoffFinal
	}
	return envelope.HandoffRelayed
}

// finalResult renders the reply to the end of data for one recipient.
func finalResult(rcpt string, rep Reply, remote string, h envelope.Handoff) envelope.RcptResult {
	if rep.Code/100 == 2 {
		return envelope.RcptResult{Rcpt: rcpt, Status: envelope.Delivered, Code: rep.Code,
			Enhanced: rep.Enhanced, Text: rep.Text(), Remote: remote, Handoff: h}
	}
	return replyFailure("end of data", rep).result(rcpt, remote)
}

// errContent wraps a failure to read the queued content.
var errContent = errors.New("error reading queued message")

// sendContent streams the content, dot-stuffed with CRLF line ends, and
// the final dot. When the content cannot be read it drops the connection
// without the final dot, so no partial message is delivered.
func (s *session) sendContent(content io.Reader) error {
	s.writeStage = stageDataBlock
	dw := newDataWriter(s.w)
	src := &trackingReader{r: content}
	_, err := io.Copy(dw, src)
	if src.err != nil {
		s.close()
		return deferred("4.3.0", "%v: %v", errContent, src.err)
	}
	if err == nil {
		err = dw.Close()
	}
	if err == nil {
		err = s.w.Flush()
	}
	if err != nil {
		s.broken = true
		return &ioError{stageDataBlock, err}
	}
	return nil
}

// trackingReader remembers the reader's own error, to tell it apart from
// a write error in io.Copy.
type trackingReader struct {
	r   io.Reader
	err error
}

func (t *trackingReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if err != nil && err != io.EOF {
		t.err = err
	}
	return n, err
}
