package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/filter"
	"github.com/sluice-mta/sluice/milter"
	"github.com/sluice-mta/sluice/milterclient"
)

// mtBodyChunk is how much body milter-test hands the client at a time;
// the client packs it into packets of the negotiated size.
const mtBodyChunk = 64 << 10

// mtQueueID is the queue ID macro i.
const mtQueueID = "MILTERTEST"

// mtOptions are milter-test's inputs.
type mtOptions struct {
	address   string
	msg       *mtMessage
	from      envelope.Address
	to        []envelope.Address
	conn      envelope.Conn
	helo      string
	overrides filter.MacroMap // --macro, over every stage's values
	timeout   time.Duration
	logger    *slog.Logger
}

// mtDriver plays the MTA for one message and records what happens.
type mtDriver struct {
	o        *mtOptions
	rep      *mtReport
	sess     *milterclient.Session
	macros   mtMacros
	cur      *mtStage // the stage being driven
	wire     *mtStage // the stage of the last command sent: replies are its
	sentAt   time.Time
	body     *mtStage // body chunks sent at end of message are its
	accepted []envelope.Address
	mod      *filter.Modifier
}

// mtRun drives the milter at o.address through one message.
func mtRun(ctx context.Context, o *mtOptions) *mtReport {
	start := time.Now()
	d := &mtDriver{o: o, rep: &mtReport{Milter: o.address, Stages: []*mtStage{}, Edits: []mtEdit{}}}
	d.macros = mtMacros{values: filter.MacroMap{}, over: o.overrides}
	m, err := milterclient.New(milterclient.Options{
		Address: o.address, DefaultAction: milterclient.TempFail,
		ConnectTimeout: o.timeout, CommandTimeout: o.timeout, EOMTimeout: o.timeout,
		Breaker: milterclient.BreakerOptions{Failures: -1},
		Logger:  o.logger, Trace: d.trace,
	})
	if err != nil {
		d.rep.Error = err.Error()
		d.finish(filter.TempFail, "connect")
	} else {
		t0 := time.Now()
		d.sess = m.Open(ctx, d.macros)
		if n, ok := d.sess.Negotiated(); ok {
			d.rep.Negotiation = newMTNegotiation(n, time.Since(t0))
		}
		v, stage := d.drive(ctx)
		d.finish(v, stage)
		d.sess.Close(ctx)
	}
	d.rep.TotalMS = mtMS(time.Since(start))
	return d.rep
}

// drive runs the stages up to the first that ends the message; it
// returns that verdict and stage (continue and "eom" when none did).
func (d *mtDriver) drive(ctx context.Context) (filter.Verdict, string) {
	s, o := d.sess, d.o
	d.macros.connect(o)
	if v := d.stage("connect", mtConnArg(o.conn), func() filter.Verdict { return s.Connect(ctx, &o.conn) }); v != filter.Continue {
		return v, "connect"
	}
	if v := d.stage("helo", o.helo, func() filter.Verdict { return s.Helo(ctx, o.helo) }); v != filter.Continue {
		return v, "helo"
	}
	d.macros.mail(o.from)
	if v := d.stage("mail", mtAddrArg(o.from), func() filter.Verdict { return s.Mail(ctx, o.from) }); v != filter.Continue {
		return v, "mail"
	}
	if v, done := d.rcpts(ctx); done {
		return v, "rcpt"
	}
	if v := d.stage("data", "", func() filter.Verdict { return s.Data(ctx) }); v != filter.Continue {
		return v, "data"
	}
	for _, f := range o.msg.headers {
		if v := d.stage("header", f.Name, func() filter.Verdict { return s.Header(ctx, f.Name, f.Value) }); v != filter.Continue {
			return v, "header"
		}
	}
	if v := d.stage("eoh", "", func() filter.Verdict { return s.EndOfHeaders(ctx) }); v != filter.Continue {
		return v, "eoh"
	}
	if v := d.sendBody(ctx); v != filter.Continue && v != filter.Skip {
		return v, "body"
	}
	d.mod = filter.NewModifier(filter.AllEdits, nil)
	return d.stage("eom", "", func() filter.Verdict { return s.EndOfMessage(ctx, d.mod) }), "eom"
}

// rcpts sends each recipient; a refused one is left out. done is true
// when the message ends here: a verdict for the whole message, or every
// recipient refused (tempfail if any was, else reject).
func (d *mtDriver) rcpts(ctx context.Context) (v filter.Verdict, done bool) {
	var refused filter.Verdict
	for _, to := range d.o.to {
		d.macros.rcpt(to)
		v := d.stage("rcpt", mtAddrArg(to), func() filter.Verdict { return d.sess.Rcpt(ctx, to) })
		switch v.Action {
		case filter.ActionContinue:
			d.accepted = append(d.accepted, to)
		case filter.ActionReject, filter.ActionTempFail:
			if refused.Action != filter.ActionTempFail || v.Action == filter.ActionTempFail {
				refused = v
			}
		default:
			return v, true
		}
	}
	if len(d.accepted) == 0 {
		return refused, true
	}
	return filter.Continue, false
}

// sendBody hands the body to the client in chunks, as one stage.
func (d *mtDriver) sendBody(ctx context.Context) filter.Verdict {
	b := d.o.msg.body
	return d.stage("body", strconv.Itoa(len(b))+" bytes", func() filter.Verdict {
		d.body = d.cur
		v := filter.Continue
		for off := 0; off < len(b) && v == filter.Continue; off += mtBodyChunk {
			v = d.sess.Body(ctx, b[off:min(off+mtBodyChunk, len(b))])
		}
		return v
	})
}

// stage records one stage: what the client sent and received for it
// (through trace), its verdict, and the milter's failure if it failed
// here.
func (d *mtDriver) stage(name, arg string, call func() filter.Verdict) filter.Verdict {
	st := &mtStage{Stage: name, Arg: arg}
	d.rep.Stages = append(d.rep.Stages, st)
	d.cur, d.wire = st, nil
	v := call()
	d.cur, d.wire = nil, nil
	st.Verdict, st.Reply = v.Action.String(), mtReplyOf(v)
	if err := d.sess.Err(); err != nil && d.rep.Error == "" {
		st.Error, d.rep.Error = err.Error(), err.Error()
	}
	return v
}

// trace is the client's Options.Trace: it attributes each packet to the
// stage being driven. Body chunks the client holds back until end of
// message belong to the body stage.
func (d *mtDriver) trace(tr milterclient.Trace) {
	if d.cur == nil {
		return // negotiation, QUIT
	}
	if tr.Command != nil {
		switch code := tr.Command.Code(); code {
		case milter.CmdMacro:
			if m, ok := tr.Command.(milter.Macro); ok {
				d.cur.Macros = append(d.cur.Macros, m.Pairs...)
			}
		case milter.CmdAbort, milter.CmdQuit, milter.CmdQuitNewConn:
		default:
			st := d.cur
			if code == milter.CmdBody && d.body != nil {
				st = d.body
			}
			st.Sent, d.wire, d.sentAt = true, st, time.Now()
		}
		return
	}
	st := d.wire
	if st == nil {
		st = d.cur
	}
	switch code := tr.Response.Code(); {
	case code == milter.RespProgress:
		st.Progress++
	case milter.RequiredAction(code) != 0:
		// A modification: reported from the Modifier, once accepted.
	default:
		st.Response = milter.ResponseName(code)
		st.latency += time.Since(d.sentAt)
	}
}

// finish fills the result, the edits and the message as delivered.
func (d *mtDriver) finish(v filter.Verdict, stage string) {
	exit := mtExitAccept
	switch {
	case d.rep.Error != "" || v.Action == filter.ActionTempFail:
		exit = mtExitTempFail
	case v.Action == filter.ActionReject || v.Action == filter.ActionDiscard:
		exit = mtExitReject
	}
	d.rep.Result = mtResult{Verdict: v.Action.String(), Stage: stage, Reply: mtReplyOf(v), ExitCode: exit}
	for _, st := range d.rep.Stages {
		st.LatencyMS = mtMS(st.latency)
	}
	if exit != mtExitAccept {
		return
	}
	msg := &mtDelivered{m: mtMessage{headers: append([]filter.HeaderField(nil), d.o.msg.headers...), body: d.o.msg.body},
		from: d.o.from, to: append([]envelope.Address(nil), d.accepted...)}
	if d.mod != nil {
		for _, e := range d.mod.Edits() {
			d.rep.Edits = append(d.rep.Edits, msg.apply(e))
		}
	}
	if msg.bodyErr != nil {
		d.rep.Error = msg.bodyErr.Error()
		d.rep.Result.ExitCode = mtExitTempFail
		return
	}
	d.rep.Message = msg.report()
}

// mtDelivered is the message as the edits leave it.
type mtDelivered struct {
	m          mtMessage
	from       envelope.Address
	to         []envelope.Address
	quarantine string
	bodyErr    error
}

// apply applies one edit and returns its report.
func (m *mtDelivered) apply(e filter.Edit) mtEdit {
	out := newMTEdit(e)
	switch {
	case e.Kind.IsHeaderEdit():
		m.m.headers = filter.ApplyHeaderEdit(m.m.headers, e)
	case e.Kind == filter.AddRecipient:
		m.to = append(m.to, e.Address)
	case e.Kind == filter.DeleteRecipient:
		kept := m.to[:0]
		for _, a := range m.to {
			if !strings.EqualFold(a.Addr, e.Address.Addr) {
				kept = append(kept, a)
			}
		}
		m.to = kept
	case e.Kind == filter.ChangeSender:
		m.from = e.Address
	case e.Kind == filter.Quarantine:
		m.quarantine = e.Reason
	case e.Kind == filter.ReplaceBody:
		b, err := io.ReadAll(e.Body)
		if err != nil {
			m.bodyErr = fmt.Errorf("reading the replaced body: %w", err)
		}
		m.m.body = b
		n := int64(len(b))
		out.BodyBytes = &n
	}
	return out
}

// mtMacros are the macros of the session: each stage's values as Postfix
// sets them, under the --macro overrides.
type mtMacros struct {
	values, over filter.MacroMap
}

// Macro implements filter.Macros.
func (m mtMacros) Macro(name string) (string, bool) {
	if v, ok := m.over.Macro(name); ok {
		return v, true
	}
	return m.values.Macro(name)
}

func (m mtMacros) connect(o *mtOptions) {
	addr := o.conn.ClientAddr.Addr().Unmap().String()
	m.values.Set("j", "localhost")
	m.values.Set("{daemon_name}", "sluice-milter-test")
	m.values.Set("{daemon_addr}", "127.0.0.1")
	m.values.Set("v", "sluice milter-test")
	m.values.Set("_", o.conn.ClientName+" ["+addr+"]")
	m.values.Set("{client_addr}", addr)
	m.values.Set("{client_port}", strconv.Itoa(int(o.conn.ClientAddr.Port())))
	m.values.Set("{client_name}", o.conn.ClientName)
	m.values.Set("{client_ptr}", o.conn.ClientName)
}

func (m mtMacros) mail(from envelope.Address) {
	m.values.Set("i", mtQueueID)
	m.values.Set("{mail_addr}", from.Addr)
	m.setNexthop("mail", from.Addr)
}

func (m mtMacros) rcpt(to envelope.Address) {
	m.values.Set("{rcpt_addr}", to.Addr)
	m.setNexthop("rcpt", to.Addr)
}

// setNexthop sets {P_host} and {P_mailer} as Postfix does for a remote
// domain; the null sender has neither.
func (m mtMacros) setNexthop(prefix, addr string) {
	host, mailer := envelope.Domain(addr), "smtp"
	if host == "" {
		delete(m.values, prefix+"_host")
		delete(m.values, prefix+"_mailer")
		return
	}
	m.values.Set(prefix+"_host", host)
	m.values.Set(prefix+"_mailer", mailer)
}

func mtConnArg(c envelope.Conn) string {
	s := c.ClientName + " [" + c.ClientAddr.Addr().Unmap().String() + "]"
	if p := c.ClientAddr.Port(); p != 0 {
		s += ":" + strconv.Itoa(int(p))
	}
	return s
}

func mtAddrArg(a envelope.Address) string {
	s := "<" + a.Addr + ">"
	if p := a.ParamString(); p != "" {
		s += " " + p
	}
	return s
}

// mtMS is d in milliseconds, to the microsecond.
func mtMS(d time.Duration) float64 {
	return float64(d.Microseconds()) / 1000
}
