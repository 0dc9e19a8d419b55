package miltersrv

// Interop with the MTA side of github.com/d--j/go-milter: its Client and
// ClientSession drive our server over real sockets.

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	dmilter "github.com/d--j/go-milter"

	"github.com/sluice-mta/sluice/filter"
	"github.com/sluice-mta/sluice/milter"
)

// djClient returns a d--j client for addr whose connections are tapped.
func djClient(network, addr string, opts ...dmilter.Option) (*dmilter.Client, *tapDialer) {
	tap := &tapDialer{}
	base := []dmilter.Option{
		dmilter.WithDialer(tap),
		dmilter.WithReadTimeout(clientTimeout),
		dmilter.WithWriteTimeout(clientTimeout),
	}
	return dmilter.NewClient(network, addr, append(base, opts...)...), tap
}

// djSession opens a session; bag may be nil for no macros. The session is
// closed at the end of the test.
func djSession(t testing.TB, c *dmilter.Client, bag *dmilter.MacroBag) *dmilter.ClientSession {
	t.Helper()
	var macros dmilter.Macros
	if bag != nil {
		macros = bag
	}
	s, err := c.Session(macros)
	if err != nil {
		t.Fatalf("d--j session: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// djRun says which parts of the message send sends.
type djRun struct {
	connect bool   // connect and HELO first
	unknown string // an unknown command after HELO, when not empty
	queueID string // the value of macro i from DATA on
	bag     *dmilter.MacroBag
}

type djStep struct {
	stage filter.Stage
	run   func() (*dmilter.Action, error)
}

// djOutcome is where a message stopped and what the library reported.
type djOutcome struct {
	stage filter.Stage // StageEndOfMessage when it ran to the end
	act   dmilter.Action
	mods  []dmilter.ModifyAction
}

func (r djRun) set(name, value string) {
	if r.bag != nil {
		r.bag.Set(name, value)
	}
}

func (r djRun) steps(s *dmilter.ClientSession) []djStep {
	var steps []djStep
	if r.connect {
		steps = append(steps,
			djStep{filter.StageConnect, func() (*dmilter.Action, error) {
				return s.Conn(imClientName, dmilter.FamilyInet, imClientPort, imClientAddr)
			}},
			djStep{filter.StageHelo, func() (*dmilter.Action, error) {
				r.set(dmilter.MacroTlsVersion, "TLSv1.3")
				return s.Helo(imHelo)
			}})
	}
	if r.unknown != "" {
		steps = append(steps, djStep{filter.StageUnknown, func() (*dmilter.Action, error) { return s.Unknown(r.unknown, nil) }})
	}
	steps = append(steps,
		djStep{filter.StageMail, func() (*dmilter.Action, error) {
			r.set(dmilter.MacroMailAddr, imFrom)
			return s.Mail(imFrom, strings.Join(imFromArgs, " "))
		}},
		djStep{filter.StageRcpt, func() (*dmilter.Action, error) {
			r.set(dmilter.MacroRcptAddr, imRcpt1)
			return s.Rcpt(imRcpt1, strings.Join(imRcpt1Args, " "))
		}},
		djStep{filter.StageRcpt, func() (*dmilter.Action, error) {
			r.set(dmilter.MacroRcptAddr, imRcpt2)
			return s.Rcpt(imRcpt2, strings.Join(imRcpt2Args, " "))
		}},
		djStep{filter.StageData, func() (*dmilter.Action, error) {
			r.set(dmilter.MacroQueueId, r.queueID)
			return s.DataStart()
		}})
	for _, h := range imHeaders {
		steps = append(steps, djStep{filter.StageHeader, func() (*dmilter.Action, error) { return s.HeaderField(h[0], h[1], nil) }})
	}
	steps = append(steps, djStep{filter.StageEndOfHeaders, s.HeaderEnd})
	for _, chunk := range imBody {
		steps = append(steps, djStep{filter.StageBody, func() (*dmilter.Action, error) { return s.BodyChunk([]byte(chunk)) }})
	}
	return steps
}

// send runs the message through s until the first answer other than
// continue, or to the end.
func (r djRun) send(s *dmilter.ClientSession) (djOutcome, error) {
	for _, st := range r.steps(s) {
		act, err := st.run()
		if err != nil {
			return djOutcome{stage: st.stage}, fmt.Errorf("at %v: %w", st.stage, err)
		}
		if act.Type != dmilter.ActionContinue {
			return djOutcome{stage: st.stage, act: *act}, nil
		}
	}
	mods, act, err := s.End()
	if err != nil {
		return djOutcome{stage: filter.StageEndOfMessage}, fmt.Errorf("at eom: %w", err)
	}
	return djOutcome{stage: filter.StageEndOfMessage, act: *act, mods: mods}, nil
}

// djContinue is the continue reply as the library reports one read from
// the wire.
var djContinue = dmilter.Action{Type: dmilter.ActionContinue, SMTPCode: 250, SMTPReply: "250 accept"}

func TestDJMilterFullMessageEveryEdit(t *testing.T) {
	body := replacementBody(70000) // more than one 64 KiB SMFIR_REPLBODY
	p := &probe{
		needs: filter.Needs{Edits: filter.AllEdits, Macros: map[filter.Stage][]string{
			filter.StageConnect: {"j", "{client_addr}"}, filter.StageHelo: {"{tls_version}"},
			filter.StageMail: {"{mail_addr}"}, filter.StageRcpt: {"{rcpt_addr}"},
			filter.StageData: {"i"}, filter.StageEndOfMessage: {"i"},
		}},
		edit:       everyEdit(body, true),
		macroNames: []string{"j", "client_addr", "tls_version", "mail_addr", "rcpt_addr", "i"},
	}
	_, addr := serve(t, p, Options{})
	c, tap := djClient("tcp", addr)
	bag := dmilter.NewMacroBag()
	bag.Set(dmilter.MacroMTAFQDN, "mx.test")
	bag.Set(dmilter.MacroClientAddr, imClientAddr)
	s := djSession(t, c, bag)

	wantNeg := milter.OptNeg{Version: 6,
		Actions: milter.ActAddHeader | milter.ActChangeBody | milter.ActAddRcpt | milter.ActDelRcpt |
			milter.ActChangeHeader | milter.ActQuarantine | milter.ActChangeFrom | milter.ActAddRcptPar | milter.ActSetSymList,
		Protocol: milter.ProtoSkip,
		SymLists: []milter.SetSymList{
			{Stage: milter.MacroConnect, Macros: "j {client_addr}"}, {Stage: milter.MacroHelo, Macros: "{tls_version}"},
			{Stage: milter.MacroMail, Macros: "{mail_addr}"}, {Stage: milter.MacroRcpt, Macros: "{rcpt_addr}"},
			{Stage: milter.MacroData, Macros: "i"}, {Stage: milter.MacroEOM, Macros: "i"},
		}}
	if got := tap.Conn(t, 0).Negotiated(t); !reflect.DeepEqual(got, wantNeg) {
		t.Fatalf("negotiated\n%#v\nwant\n%#v", got, wantNeg)
	}
	if !s.ActionOption(dmilter.OptAddRcptWithArgs) || !s.ActionOption(dmilter.OptQuarantine) || !s.ProtocolOption(dmilter.OptSkip) {
		t.Error("the library does not see the negotiated actions and SMFIP_SKIP")
	}

	out, err := djRun{connect: true, queueID: "Q1", bag: bag}.send(s)
	if err != nil {
		t.Fatal(err)
	}
	if out.stage != filter.StageEndOfMessage || out.act != djContinue {
		t.Fatalf("message ended at %v with %v, want eom continue", out.stage, out.act)
	}
	wantMods := []dmilter.ModifyAction{
		{Type: dmilter.ActionAddHeader, HeaderName: "X-Added", HeaderValue: "yes"},
		{Type: dmilter.ActionInsertHeader, HeaderIndex: 0, HeaderName: "X-First", HeaderValue: "1"},
		{Type: dmilter.ActionChangeHeader, HeaderIndex: 1, HeaderName: "Subject", HeaderValue: "changed\n\tand folded"},
		{Type: dmilter.ActionChangeHeader, HeaderIndex: 2, HeaderName: "Received", HeaderValue: ""},
		{Type: dmilter.ActionAddRcpt, Rcpt: "<d@example.org>"},
		{Type: dmilter.ActionAddRcpt, Rcpt: "<e@example.org>", RcptArgs: "NOTIFY=NEVER"},
		{Type: dmilter.ActionDelRcpt, Rcpt: "<b@example.org>"},
		{Type: dmilter.ActionChangeFrom, From: "<bounce@example.com>", FromArgs: "RET=HDRS ENVID=QQ314159"},
		{Type: dmilter.ActionReplaceBody, Body: body[:65535]},
		{Type: dmilter.ActionReplaceBody, Body: body[65535:]},
		{Type: dmilter.ActionQuarantine, Reason: "looks odd"},
	}
	if !reflect.DeepEqual(out.mods, wantMods) {
		t.Errorf("modifications:\n%v\nwant\n%v", out.mods, wantMods)
	}
	if errs := p.EditErrors(); len(errs) != 0 {
		t.Errorf("edit errors: %v", errs)
	}
	s.Close()
	p.waitClosed(t, 1)

	wantCalls := djFullCalls()
	if got := p.Calls(); !reflect.DeepEqual(got, wantCalls) {
		t.Errorf("filter calls:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantCalls, "\n"))
	}
	conn := tap.Conn(t, 0)
	if got, want := conn.Sent(), "OCHMRRTLLLNBBEQ"; got != want {
		t.Errorf("client sent %q, want %q", got, want)
	}
	if got, want := conn.Received(), "O"+strings.Repeat("c", 12)+"himm+2-ebbqc"; got != want {
		t.Errorf("server replied %q, want %q", got, want)
	}
}

// djFullCalls is what the probe of TestDJMilterFullMessageEveryEdit
// records: each stage with the macros the filter asked for, as the library
// sent them.
func djFullCalls() []string {
	const cm = "j=mx.test client_addr=192.0.2.7"
	const tx = cm + " tls_version=TLSv1.3 mail_addr=a@example.com rcpt_addr=c@example.org i=Q1"
	calls := []string{
		"connect client.test 4 192.0.2.7:40000 {" + cm + "}",
		"helo client.test {" + cm + " tls_version=TLSv1.3}",
		"mail a@example.com SIZE=100 BODY=8BITMIME {" + cm + " tls_version=TLSv1.3 mail_addr=a@example.com}",
		"rcpt b@example.org NOTIFY=SUCCESS,FAILURE {" + cm + " tls_version=TLSv1.3 mail_addr=a@example.com rcpt_addr=b@example.org}",
		"rcpt c@example.org ORCPT=rfc822;c@example.org {" + cm + " tls_version=TLSv1.3 mail_addr=a@example.com rcpt_addr=c@example.org}",
	}
	for _, call := range imCalls[3:] {
		calls = append(calls, call+" {"+tx+"}")
	}
	return append(calls, "close")
}

// djWant is what the d--j library reports for verdict v at stage st:
// where the message stops and the action. It turns a discard at connect
// or HELO into continue (with a log line), so those messages run on.
func djWant(st filter.Stage, v filter.Verdict) (filter.Stage, dmilter.Action) {
	switch v.Action {
	case filter.ActionReject:
		if v.Reply != nil {
			return st, dmilter.Action{Type: dmilter.ActionRejectWithCode, SMTPCode: uint16(v.Reply.Code), SMTPReply: v.Reply.String()}
		}
		return st, dmilter.Action{Type: dmilter.ActionReject, SMTPCode: 550, SMTPReply: "550 5.7.1 Command rejected"}
	case filter.ActionTempFail:
		if v.Reply != nil {
			return st, dmilter.Action{Type: dmilter.ActionRejectWithCode, SMTPCode: uint16(v.Reply.Code), SMTPReply: v.Reply.String()}
		}
		return st, dmilter.Action{Type: dmilter.ActionTempFail, SMTPCode: 451, SMTPReply: "451 4.7.1 Service unavailable - try again later"}
	case filter.ActionDiscard:
		if st == filter.StageConnect || st == filter.StageHelo {
			return filter.StageEndOfMessage, djContinue
		}
		return st, dmilter.Action{Type: dmilter.ActionDiscard, SMTPCode: 250, SMTPReply: "250 accept"}
	case filter.ActionAccept:
		return st, dmilter.Action{Type: dmilter.ActionAccept, SMTPCode: 250, SMTPReply: "250 accept"}
	}
	panic("no expectation for " + v.String())
}

func TestDJMilterVerdictsAtEachStage(t *testing.T) {
	stages := []filter.Stage{filter.StageConnect, filter.StageHelo, filter.StageUnknown, filter.StageMail,
		filter.StageRcpt, filter.StageData, filter.StageHeader, filter.StageEndOfHeaders, filter.StageBody,
		filter.StageEndOfMessage}
	for _, st := range stages {
		for _, vc := range verdictCases {
			t.Run(st.String()+"/"+vc.name, func(t *testing.T) {
				p := &probe{verdicts: map[filter.Stage]filter.Verdict{st: vc.verdict}}
				_, addr := serve(t, p, Options{})
				c, _ := djClient("tcp", addr)
				s := djSession(t, c, nil)
				out, err := djRun{connect: true, unknown: "HELP ME"}.send(s)
				if err != nil {
					t.Fatal(err)
				}
				wantStage, wantAct := djWant(st, vc.verdict)
				if out.stage != wantStage || out.act != wantAct {
					t.Errorf("stopped at %v with %#v\nwant %v with %#v", out.stage, out.act, wantStage, wantAct)
				}
				if len(out.mods) != 0 {
					t.Errorf("modifications %v, want none", out.mods)
				}
			})
		}
	}
}

func TestDJMilterSkippedStagesAreNotSent(t *testing.T) {
	p := &probe{needs: filter.Needs{
		Skip:               filter.Stages(filter.StageHelo, filter.StageUnknown, filter.StageRcpt, filter.StageData, filter.StageEndOfHeaders, filter.StageBody),
		RejectedRecipients: true,
		HeaderLeadingSpace: true,
	}}
	_, addr := serve(t, p, Options{})
	c, tap := djClient("tcp", addr)
	s := djSession(t, c, nil)
	want := milter.OptNeg{Version: 6, Protocol: milter.ProtoNoHelo | milter.ProtoNoUnknown | milter.ProtoNoRcpt |
		milter.ProtoNoData | milter.ProtoNoEOH | milter.ProtoNoBody | milter.ProtoSkip | milter.ProtoRcptRej | milter.ProtoHdrLeadSpace}
	if got := tap.Conn(t, 0).Negotiated(t); !reflect.DeepEqual(got, want) {
		t.Fatalf("negotiated %#v, want %#v", got, want)
	}
	for _, o := range []dmilter.OptProtocol{dmilter.OptNoHelo, dmilter.OptNoUnknown, dmilter.OptNoRcptTo,
		dmilter.OptNoData, dmilter.OptNoEOH, dmilter.OptNoBody, dmilter.OptRcptRej, dmilter.OptHeaderLeadingSpace} {
		if !s.ProtocolOption(o) {
			t.Errorf("the library does not see %v negotiated", o)
		}
	}
	if s.ProtocolOption(dmilter.OptNoConnect) || s.ProtocolOption(dmilter.OptNoMailFrom) || s.ProtocolOption(dmilter.OptNoHeaders) {
		t.Error("the library sees connect, MAIL or headers negotiated away")
	}
	out, err := djRun{connect: true, unknown: "HELP"}.send(s)
	if err != nil || out.stage != filter.StageEndOfMessage || out.act != djContinue {
		t.Fatalf("message: %v %v %v", out.stage, out.act, err)
	}
	s.Close()
	p.waitClosed(t, 1)
	if got, want := tap.Conn(t, 0).Sent(), "OCMLLLEQ"; got != want {
		t.Errorf("client sent %q, want %q (no HELO, unknown, RCPT, DATA, EOH, body)", got, want)
	}
	wantCalls := concat([]string{"connect client.test 4 192.0.2.7:40000", imCalls[0]},
		without(imCalls[1:], "rcpt", "data", "eoh", "body"), []string{"close"})
	if got := p.Calls(); !reflect.DeepEqual(got, wantCalls) {
		t.Errorf("calls:\n%q\nwant\n%q", got, wantCalls)
	}
}

func TestDJMilterNoReplyStages(t *testing.T) {
	nr := filter.Stages(filter.StageConnect, filter.StageHelo, filter.StageUnknown, filter.StageMail, filter.StageRcpt,
		filter.StageData, filter.StageHeader, filter.StageEndOfHeaders, filter.StageBody)
	p := &probe{
		needs: filter.Needs{NoReply: nr},
		// A filter that breaks its promise: the verdict is dropped, and
		// the stream stays in step.
		verdicts: map[filter.Stage]filter.Verdict{filter.StageRcpt: filter.Reject},
	}
	_, addr := serve(t, p, Options{})
	c, tap := djClient("tcp", addr)
	s := djSession(t, c, nil)
	want := milter.OptNeg{Version: 6, Protocol: milter.ProtoNRConnect | milter.ProtoNRHelo | milter.ProtoNRUnknown |
		milter.ProtoNRMail | milter.ProtoNRRcpt | milter.ProtoNRData | milter.ProtoNRHeader | milter.ProtoNREOH |
		milter.ProtoNRBody | milter.ProtoSkip}
	if got := tap.Conn(t, 0).Negotiated(t); !reflect.DeepEqual(got, want) {
		t.Fatalf("negotiated %#v, want %#v", got, want)
	}
	for i := range 2 {
		out, err := djRun{connect: i == 0, unknown: "HELP"}.send(s)
		if err != nil || out.stage != filter.StageEndOfMessage || out.act != djContinue {
			t.Fatalf("message %d: %v %v %v", i, out.stage, out.act, err)
		}
	}
	s.Close()
	p.waitClosed(t, 1)
	conn := tap.Conn(t, 0)
	if got, want := conn.Sent(), "OCHU"+"MRRTLLLNBBE"+"U"+"MRRTLLLNBBE"+"Q"; got != want {
		t.Errorf("client sent %q, want %q", got, want)
	}
	if got, want := conn.Received(), "Occ"; got != want {
		t.Errorf("server replied %q, want %q: only the end of each message", got, want)
	}
	wantCalls := concat([]string{"connect client.test 4 192.0.2.7:40000", "helo client.test", "unknown HELP"}, imCalls,
		[]string{"unknown HELP"}, imCalls, []string{"close"})
	if got := p.Calls(); !reflect.DeepEqual(got, wantCalls) {
		t.Errorf("calls:\n%q\nwant\n%q", got, wantCalls)
	}
}

func TestDJMilterBodySkip(t *testing.T) {
	p := &probe{verdicts: map[filter.Stage]filter.Verdict{filter.StageBody: filter.Skip}}
	_, addr := serve(t, p, Options{})
	c, tap := djClient("tcp", addr)
	s := djSession(t, c, nil)
	out, err := djRun{connect: true}.send(s)
	if err != nil || out.stage != filter.StageEndOfMessage || out.act != djContinue {
		t.Fatalf("message: %v %v %v", out.stage, out.act, err)
	}
	// The library stops sending body chunks after SMFIR_SKIP.
	if got, want := tap.Conn(t, 0).Sent(), "OCHMRRTLLLNBE"; got != want {
		t.Errorf("client sent %q, want %q", got, want)
	}
	if got, want := tap.Conn(t, 0).Received(), "O"+strings.Repeat("c", 10)+"sc"; got != want {
		t.Errorf("server replied %q, want %q", got, want)
	}
	calls := p.Calls()
	if n := len(without(calls, "body")); len(calls)-n != 1 {
		t.Errorf("the filter saw %d body chunks, want 1: %q", len(calls)-n, calls)
	}
}

func TestDJMilterConnectionReuse(t *testing.T) {
	p := &probe{
		needs:      filter.Needs{Edits: filter.EditAddHeader, Macros: map[filter.Stage][]string{filter.StageEndOfMessage: {"i"}}},
		macroNames: []string{"i"},
		edit:       tagQueueID,
	}
	_, addr := serve(t, p, Options{})
	c, tap := djClient("tcp", addr)
	bag := dmilter.NewMacroBag()
	s := djSession(t, c, bag)
	send := func(r djRun) {
		t.Helper()
		out, err := r.send(s)
		wantMods := []dmilter.ModifyAction{{Type: dmilter.ActionAddHeader, HeaderName: "X-Queue-ID", HeaderValue: r.queueID}}
		if err != nil || out.stage != filter.StageEndOfMessage || out.act != djContinue || !reflect.DeepEqual(out.mods, wantMods) {
			t.Fatalf("message: %v %v %v %v", out.stage, out.act, out.mods, err)
		}
	}
	// Two messages, an aborted one, a third message; then a new SMTP
	// session on the same connection (SMFIC_QUIT_NC) with one more.
	send(djRun{connect: true, queueID: "Q1", bag: bag})
	send(djRun{queueID: "Q2", bag: bag})
	if a, err := s.Mail(imFrom, ""); err != nil || a.Type != dmilter.ActionContinue {
		t.Fatalf("mail: %v %v", a, err)
	}
	if err := s.Abort(nil); err != nil {
		t.Fatal(err)
	}
	send(djRun{queueID: "Q3", bag: bag})
	bag2 := dmilter.NewMacroBag()
	if err := s.Reset(bag2); err != nil {
		t.Fatal(err)
	}
	send(djRun{connect: true, queueID: "Q4", bag: bag2})
	s.Close()
	p.waitClosed(t, 2)

	if n := tap.Dials(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
	if opened, closed := p.Sessions(); opened != 2 || closed != 2 {
		t.Errorf("filter sessions opened %d, closed %d; want 2 and 2", opened, closed)
	}
	msg := func(qid string) []string {
		// Macro i is sent only at end of message, as the filter asked.
		return concat(without(imCalls, "eom"), []string{"eom {i=" + qid + "}"})
	}
	strip := func(calls []string) []string {
		out := make([]string, len(calls))
		for i, c := range calls {
			out[i] = strings.TrimSuffix(c, " {}")
		}
		return out
	}
	conn := []string{"connect client.test 4 192.0.2.7:40000", "helo client.test"}
	want := concat(conn, msg("Q1"), msg("Q2"), []string{"mail a@example.com ", "abort"}, msg("Q3"), []string{"close"},
		conn, msg("Q4"), []string{"close"})
	if got := strip(p.Calls()); !reflect.DeepEqual(got, want) {
		t.Errorf("calls:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if got, want := tap.Conn(t, 0).Sent(), "OCHMRRTLLLNBBEMRRTLLLNBBEMAMRRTLLLNBBEKCHMRRTLLLNBBEQ"; got != want {
		t.Errorf("client sent %q, want %q", got, want)
	}
}

// A replaced body goes back in chunks of the negotiated data size.
func TestDJMilterReplaceBodyChunksFollowDataSize(t *testing.T) {
	body := replacementBody(2*milter.ChunkSize1M + 10)
	tests := []struct {
		name      string
		maxPacket int
		proto     milter.ProtoFlags
		chunk     int
	}{
		{"64K: the server keeps the default packet limit", 0, milter.ProtoSkip, milter.ChunkSize},
		{"1M agreed", milter.MaxPacketFor(milter.ProtoMDS1M), milter.ProtoSkip | milter.ProtoMDS1M, milter.ChunkSize1M},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &probe{needs: filter.Needs{Edits: filter.EditReplaceBody}}
			p.edit = func(_ context.Context, m *filter.Modifier, _ filter.Macros) []error {
				return nonNil([]error{m.ReplaceBody(bytes.NewReader(body))})
			}
			_, addr := serve(t, p, Options{MaxPacket: tt.maxPacket})
			c, tap := djClient("tcp", addr, dmilter.WithOfferedMaxData(dmilter.DataSize1M))
			s := djSession(t, c, nil)
			if got := tap.Conn(t, 0).Negotiated(t); got.Protocol != tt.proto {
				t.Fatalf("negotiated protocol %v, want %v", got.Protocol, tt.proto)
			}
			out, err := djRun{connect: true}.send(s)
			if err != nil || out.stage != filter.StageEndOfMessage || out.act != djContinue {
				t.Fatalf("message: %v %v %v", out.stage, out.act, err)
			}
			var got []byte
			for i, m := range out.mods {
				want := min(tt.chunk, len(body)-len(got))
				if m.Type != dmilter.ActionReplaceBody || len(m.Body) != want {
					t.Fatalf("modification %d: %v, want a body chunk of %d bytes", i, m, want)
				}
				got = append(got, m.Body...)
			}
			if !bytes.Equal(got, body) {
				t.Errorf("replaced body is %d bytes and differs from the %d sent", len(got), len(body))
			}
		})
	}
}

// An MTA that speaks version 2 gets version 2: no SMFIP_NR_*, no symbol
// lists, no DATA or unknown commands.
func TestDJMilterVersion2(t *testing.T) {
	p := &probe{
		needs: filter.Needs{
			Edits:   filter.EditAddHeader | filter.EditQuarantine,
			Skip:    filter.Stages(filter.StageHelo),
			NoReply: filter.Stages(filter.StageConnect),
			Macros:  map[filter.Stage][]string{filter.StageConnect: {"j"}},
		},
		edit: func(_ context.Context, m *filter.Modifier, _ filter.Macros) []error {
			return nonNil([]error{m.AddHeader("X-V", "2"), m.Quarantine("old")})
		},
	}
	_, addr := serve(t, p, Options{})
	c, tap := djClient("tcp", addr, dmilter.WithMaximumVersion(2), dmilter.WithProtocols(0),
		dmilter.WithActions(dmilter.OptAddHeader|dmilter.OptChangeBody|dmilter.OptAddRcpt|dmilter.OptRemoveRcpt|
			dmilter.OptChangeHeader|dmilter.OptQuarantine))
	s := djSession(t, c, nil)
	want := milter.OptNeg{Version: 2, Actions: milter.ActAddHeader | milter.ActQuarantine, Protocol: milter.ProtoNoHelo}
	if got := tap.Conn(t, 0).Negotiated(t); !reflect.DeepEqual(got, want) {
		t.Fatalf("negotiated %#v, want %#v", got, want)
	}
	out, err := djRun{connect: true}.send(s)
	wantMods := []dmilter.ModifyAction{
		{Type: dmilter.ActionAddHeader, HeaderName: "X-V", HeaderValue: "2"},
		{Type: dmilter.ActionQuarantine, Reason: "old"},
	}
	if err != nil || out.stage != filter.StageEndOfMessage || out.act != djContinue || !reflect.DeepEqual(out.mods, wantMods) {
		t.Fatalf("message: %v %v %v %v", out.stage, out.act, out.mods, err)
	}
	if got, want := tap.Conn(t, 0).Sent(), "OCMRRLLLNBBE"; got != want {
		t.Errorf("client sent %q, want %q", got, want)
	}
	if got, want := tap.Conn(t, 0).Received(), "O"+strings.Repeat("c", 10)+"hqc"; got != want {
		t.Errorf("server replied %q, want %q (connect answered: no SMFIP_NR_CONN in version 2)", got, want)
	}
}
