package miltersrv

import (
	"context"
	"fmt"
	"strings"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/filter"
	"github.com/sluice-mta/sluice/milter"
)

// dispatch handles one command from the MTA.
func (c *conn) dispatch(ctx context.Context, cmd milter.Command) error {
	switch cmd := cmd.(type) {
	case milter.Connect:
		conn := connFacts(cmd, &c.macros)
		return c.stage(ctx, filter.StageConnect, func(s filter.Session) filter.Verdict { return s.Connect(ctx, conn) })
	case milter.Helo:
		return c.stage(ctx, filter.StageHelo, func(s filter.Session) filter.Verdict { return s.Helo(ctx, cmd.Name) })
	case milter.Mail:
		c.skipBody = false
		from := addressFromArgs(cmd.Args)
		return c.stage(ctx, filter.StageMail, func(s filter.Session) filter.Verdict { return s.Mail(ctx, from) })
	case milter.Rcpt:
		to := addressFromArgs(cmd.Args)
		return c.stage(ctx, filter.StageRcpt, func(s filter.Session) filter.Verdict { return s.Rcpt(ctx, to) })
	case milter.Data:
		return c.stage(ctx, filter.StageData, func(s filter.Session) filter.Verdict { return s.Data(ctx) })
	case milter.Header:
		value := crlfFolding(cmd.Value)
		return c.stage(ctx, filter.StageHeader, func(s filter.Session) filter.Verdict { return s.Header(ctx, cmd.Name, value) })
	case milter.EndOfHeaders:
		return c.stage(ctx, filter.StageEndOfHeaders, func(s filter.Session) filter.Verdict { return s.EndOfHeaders(ctx) })
	case milter.Unknown:
		return c.stage(ctx, filter.StageUnknown, func(s filter.Session) filter.Verdict { return s.Unknown(ctx, cmd.Line) })
	case milter.Abort:
		return c.abort(ctx)
	case milter.QuitNewConn:
		c.closeSession(ctx)
		c.macros.clear(0)
		if c.setInSession(false) {
			return errQuit
		}
		return nil
	case milter.Quit:
		return errQuit
	}
	return fmt.Errorf("unexpected command %v", cmd)
}

// stage calls fn on the session unless the filter skips st, and answers
// unless st is a no-reply stage.
func (c *conn) stage(ctx context.Context, st filter.Stage, fn func(filter.Session) filter.Verdict) error {
	sess, err := c.session(ctx)
	if err != nil {
		c.reply(st, c.opts.FailureVerdict)
		return err
	}
	v := filter.Continue
	if !c.needs.Skip.Has(st) {
		if err := c.guard(ctx, func() { v = fn(sess) }); err != nil {
			c.reply(st, c.opts.FailureVerdict)
			return err
		}
	}
	return c.reply(st, v)
}

func (c *conn) body(ctx context.Context, chunk []byte) error {
	if c.skipBody {
		return c.reply(filter.StageBody, filter.Continue)
	}
	return c.stage(ctx, filter.StageBody, func(s filter.Session) filter.Verdict {
		v := s.Body(ctx, chunk)
		if v.Action == filter.ActionSkip {
			c.skipBody = true
		}
		return v
	})
}

func (c *conn) abort(ctx context.Context) error {
	c.skipBody = false
	if c.sess != nil {
		sess := c.sess
		if err := c.guard(ctx, func() { sess.Abort(ctx) }); err != nil {
			return err
		}
	}
	c.macros.clearTransaction()
	return nil
}

// reply sends the verdict for st, unless the MTA was told st needs none.
func (c *conn) reply(st filter.Stage, v filter.Verdict) error {
	if c.neg.noReply(st) {
		if v.Action != filter.ActionContinue {
			c.log().Warn("filter answered a no-reply stage; verdict dropped", "stage", st, "verdict", v)
		}
		return nil
	}
	return c.send(c.response(st, v))
}

// response turns a verdict into the milter reply for stage st, which
// is sent: the observer hears of it here.
func (c *conn) response(st filter.Stage, v filter.Verdict) milter.Response {
	c.opts.Observer.Verdict(st, v.Action)
	switch v.Action {
	case filter.ActionAccept:
		return milter.Accept{}
	case filter.ActionDiscard:
		return milter.Discard{}
	case filter.ActionSkip:
		if st == filter.StageBody && c.neg.protocol&milter.ProtoSkip != 0 {
			return milter.Skip{}
		}
		return milter.Continue{}
	case filter.ActionReject, filter.ActionTempFail:
		return c.refusal(v)
	}
	return milter.Continue{}
}

func (c *conn) refusal(v filter.Verdict) milter.Response {
	if v.Reply != nil {
		err := v.Reply.Validate()
		if err == nil && (v.Reply.Code/100 == 5) == (v.Action == filter.ActionReject) {
			return milter.ReplyCode{Text: wireReply(*v.Reply)}
		}
		c.log().Warn("filter gave an invalid reply; sending the plain verdict", "reply", v.Reply.String(), "err", err)
	}
	if v.Action == filter.ActionReject {
		return milter.Reject{}
	}
	return milter.TempFail{}
}

// wireReply renders a custom reply for SMFIR_REPLYCODE. The MTA treats
// the text as a format string, so '%' is doubled; Postfix refuses a reply
// without an enhanced status code, so X.7.1 (policy) is supplied when the
// filter gave none.
func wireReply(r filter.Reply) string {
	if r.Enhanced == "" {
		r.Enhanced = fmt.Sprintf("%d.7.1", r.Code/100)
	}
	lines := make([]string, len(r.Lines))
	for i, l := range r.Lines {
		lines[i] = strings.ReplaceAll(l, "%", "%%")
	}
	r.Lines = lines
	return r.String()
}

// connFacts builds the connection facts from SMFIC_CONNECT and the macros.
func connFacts(cmd milter.Connect, m filter.Macros) *envelope.Conn {
	c := &envelope.Conn{ClientName: cmd.Hostname, Family: envelope.Family(cmd.Family)}
	c.Hostname, _ = m.Macro("j")
	switch c.Family {
	case envelope.FamilyInet, envelope.FamilyInet6:
		if ap, err := parseAddrPort(cmd.Address, cmd.Port); err == nil {
			c.ClientAddr = ap
		}
	case envelope.FamilyUnix:
		c.ClientPath = cmd.Address
	}
	return c
}

// addressFromArgs turns SMFIC_MAIL/RCPT arguments ("<a@b>", "SIZE=10")
// into an envelope address.
func addressFromArgs(args []string) envelope.Address {
	var a envelope.Address
	if len(args) == 0 {
		return a
	}
	a.Addr = strings.TrimSuffix(strings.TrimPrefix(args[0], "<"), ">")
	if len(args) > 1 {
		a.Params = envelope.ParseParams(strings.Join(args[1:], " "))
	}
	return a
}

// crlfFolding gives a folded header value CRLF line breaks, the filter
// model's form; MTAs send them as LF (Postfix) or CRLF.
func crlfFolding(v string) string {
	if !strings.Contains(v, "\n") {
		return v
	}
	return strings.ReplaceAll(strings.ReplaceAll(v, "\r\n", "\n"), "\n", "\r\n")
}

// lfFolding gives a folded header value the LF line breaks MTAs expect in
// header edits: Postfix stores header lines without CR, so a CRLF would
// leave a stray CR in the message.
func lfFolding(v string) string {
	if !strings.Contains(v, "\r") {
		return v
	}
	return strings.ReplaceAll(v, "\r\n", "\n")
}
