package miltersrv

// Interop with the MTA side of github.com/emersion/go-milter: its Client and
// ClientSession drive our server over real sockets. The library has no DATA
// or unknown-command call, no SMFIC_QUIT_NC, and cannot read SMFIR_SKIP or
// SMFIR_ADDRCPT_PAR, so the tests offer it only what it handles.

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	emilter "github.com/emersion/go-milter"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/filter"
)

// emActions are the edits the library can read.
const emActions = emilter.OptAddHeader | emilter.OptChangeBody | emilter.OptAddRcpt | emilter.OptRemoveRcpt |
	emilter.OptChangeHeader | emilter.OptQuarantine | emilter.OptChangeFrom

// emProtocol is every stage flag the library honours (not SMFIP_SKIP).
const emProtocol = emilter.OptNoConnect | emilter.OptNoHelo | emilter.OptNoMailFrom | emilter.OptNoRcptTo |
	emilter.OptNoBody | emilter.OptNoHeaders | emilter.OptNoEOH | emilter.OptNoHeaderReply | emilter.OptNoConnReply |
	emilter.OptNoHeloReply | emilter.OptNoMailReply | emilter.OptNoRcptReply | emilter.OptNoEOHReply |
	emilter.OptNoBodyReply | emilter.OptRcptRej | emilter.OptHeaderLeadingSpace

// emSession dials addr with an emersion client offering acts and proto,
// through a tap. The session is closed at the end of the test.
func emSession(t testing.TB, network, addr string, acts emilter.OptAction, proto emilter.OptProtocol) (*emilter.ClientSession, *tapDialer) {
	t.Helper()
	tap := &tapDialer{}
	c := emilter.NewClientWithOptions(network, addr, emilter.ClientOptions{
		Dialer: tap, ReadTimeout: clientTimeout, WriteTimeout: clientTimeout,
		ActionMask: acts, ProtocolMask: proto,
	})
	s, err := c.Session()
	if err != nil {
		t.Fatalf("emersion session: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, tap
}

// emRun says which parts of the message emRun.send sends.
type emRun struct {
	connect bool   // connect and HELO first
	macros  bool   // send macros before connect, MAIL, RCPT and end of body
	queueID string // macro i at end of body
}

type emStep struct {
	stage filter.Stage
	run   func() (*emilter.Action, error)
}

type emOutcome struct {
	stage filter.Stage // StageEndOfMessage when it ran to the end
	act   emilter.Action
	mods  []emilter.ModifyAction
}

// withMacros sends the macros kv before step run when r.macros is set.
func (r emRun) withMacros(s *emilter.ClientSession, code emilter.Code, kv []string, run func() (*emilter.Action, error)) func() (*emilter.Action, error) {
	return func() (*emilter.Action, error) {
		if r.macros {
			if err := s.Macros(code, kv...); err != nil {
				return nil, err
			}
		}
		return run()
	}
}

func (r emRun) steps(s *emilter.ClientSession) []emStep {
	var steps []emStep
	if r.connect {
		steps = append(steps,
			emStep{filter.StageConnect, r.withMacros(s, emilter.CodeConn, []string{"j", "mx.test", "{client_addr}", imClientAddr},
				func() (*emilter.Action, error) {
					return s.Conn(imClientName, emilter.FamilyInet, imClientPort, imClientAddr)
				})},
			emStep{filter.StageHelo, func() (*emilter.Action, error) { return s.Helo(imHelo) }})
	}
	steps = append(steps,
		emStep{filter.StageMail, r.withMacros(s, emilter.CodeMail, []string{"{mail_addr}", imFrom},
			func() (*emilter.Action, error) { return s.Mail(imFrom, imFromArgs) })},
		emStep{filter.StageRcpt, r.withMacros(s, emilter.CodeRcpt, []string{"{rcpt_addr}", imRcpt1},
			func() (*emilter.Action, error) { return s.Rcpt(imRcpt1, imRcpt1Args) })},
		emStep{filter.StageRcpt, r.withMacros(s, emilter.CodeRcpt, []string{"{rcpt_addr}", imRcpt2},
			func() (*emilter.Action, error) { return s.Rcpt(imRcpt2, imRcpt2Args) })})
	for _, h := range imHeaders {
		steps = append(steps, emStep{filter.StageHeader, func() (*emilter.Action, error) { return s.HeaderField(h[0], h[1]) }})
	}
	steps = append(steps, emStep{filter.StageEndOfHeaders, s.HeaderEnd})
	for _, chunk := range imBody {
		steps = append(steps, emStep{filter.StageBody, func() (*emilter.Action, error) { return s.BodyChunk([]byte(chunk)) }})
	}
	return steps
}

// send runs the message through s until the first answer other than
// continue, or to the end.
func (r emRun) send(s *emilter.ClientSession) (emOutcome, error) {
	for _, st := range r.steps(s) {
		act, err := st.run()
		if err != nil {
			return emOutcome{stage: st.stage}, fmt.Errorf("at %v: %w", st.stage, err)
		}
		if act.Code != emilter.ActContinue {
			return emOutcome{stage: st.stage, act: *act}, nil
		}
	}
	if r.macros {
		if err := s.Macros(emilter.CodeEOB, "i", r.queueID); err != nil {
			return emOutcome{}, err
		}
	}
	mods, act, err := s.End()
	if err != nil {
		return emOutcome{stage: filter.StageEndOfMessage}, fmt.Errorf("at eom: %w", err)
	}
	return emOutcome{stage: filter.StageEndOfMessage, act: *act, mods: mods}, nil
}

var emContinue = emilter.Action{Code: emilter.ActContinue}

func TestEmersionFullMessageEveryEdit(t *testing.T) {
	body := replacementBody(70000)
	p := &probe{
		needs:      filter.Needs{Edits: filter.AllEdits &^ filter.EditAddRecipientParams},
		macroNames: []string{"j", "client_addr", "mail_addr", "rcpt_addr", "i"},
	}
	p.edit = func(ctx context.Context, m *filter.Modifier, macros filter.Macros) []error {
		errs := everyEdit(body, false)(ctx, m, macros)
		// Not negotiated (the library cannot read SMFIR_ADDRCPT_PAR), so
		// the Modifier refuses it.
		err := m.AddRecipient(envelope.Address{Addr: "e@example.org", Params: []envelope.Param{{Key: "NOTIFY", Value: "NEVER"}}})
		if !errors.Is(err, filter.ErrEditNotDeclared) {
			errs = append(errs, fmt.Errorf("AddRecipient with parameters: %v, want ErrEditNotDeclared", err))
		}
		return errs
	}
	_, addr := serve(t, p, Options{})
	s, tap := emSession(t, "tcp", addr, emActions, emProtocol)
	if s.ActionOpts != emActions || s.ProtocolOpts != 0 {
		t.Fatalf("negotiated actions %#x protocol %#x, want %#x and 0", s.ActionOpts, s.ProtocolOpts, emActions)
	}
	out, err := emRun{connect: true, macros: true, queueID: "Q1"}.send(s)
	if err != nil {
		t.Fatal(err)
	}
	if out.stage != filter.StageEndOfMessage || out.act != emContinue {
		t.Fatalf("message ended at %v with %#v, want eom continue", out.stage, out.act)
	}
	wantMods := []emilter.ModifyAction{
		{Code: emilter.ActAddHeader, HeaderName: "X-Added", HeaderValue: "yes"},
		{Code: emilter.ActInsertHeader, HeaderIndex: 0, HeaderName: "X-First", HeaderValue: "1"},
		{Code: emilter.ActChangeHeader, HeaderIndex: 1, HeaderName: "Subject", HeaderValue: "changed\n\tand folded"},
		{Code: emilter.ActChangeHeader, HeaderIndex: 2, HeaderName: "Received", HeaderValue: ""},
		{Code: emilter.ActAddRcpt, Rcpt: "<d@example.org>"},
		{Code: emilter.ActDelRcpt, Rcpt: "<b@example.org>"},
		// The library splits the packet on every NUL, so the terminating
		// NUL leaves an empty last argument.
		{Code: emilter.ActChangeFrom, From: "<bounce@example.com>", FromArgs: []string{"RET=HDRS ENVID=QQ314159", ""}},
		{Code: emilter.ActReplBody, Body: body[:65535]},
		{Code: emilter.ActReplBody, Body: body[65535:]},
		{Code: emilter.ActQuarantine, Reason: "looks odd"},
	}
	if !reflect.DeepEqual(out.mods, wantMods) {
		t.Errorf("modifications:\n%+v\nwant\n%+v", out.mods, wantMods)
	}
	if errs := p.EditErrors(); len(errs) != 0 {
		t.Errorf("edit errors: %v", errs)
	}
	s.Close()
	p.waitClosed(t, 1)

	wantCalls := emFullCalls()
	if got := p.Calls(); !reflect.DeepEqual(got, wantCalls) {
		t.Errorf("filter calls:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantCalls, "\n"))
	}
	conn := tap.Conn(t, 0)
	if got, want := conn.Sent(), "OCHMRRLLLNBBEAQ"; got != want {
		t.Errorf("client sent %q, want %q", got, want)
	}
	if got, want := conn.Received(), "O"+strings.Repeat("c", 11)+"himm+-ebbqc"; got != want {
		t.Errorf("server replied %q, want %q", got, want)
	}
}

// emFullCalls is what the probe of TestEmersionFullMessageEveryEdit
// records: each stage with the macros the test sent.
func emFullCalls() []string {
	const cm = "j=mx.test client_addr=192.0.2.7"
	const tx = cm + " mail_addr=a@example.com rcpt_addr=c@example.org"
	calls := []string{
		"connect client.test 4 192.0.2.7:40000 {" + cm + "}",
		"helo client.test {" + cm + "}",
		"mail a@example.com SIZE=100 BODY=8BITMIME {" + cm + " mail_addr=a@example.com}",
		"rcpt b@example.org NOTIFY=SUCCESS,FAILURE {" + cm + " mail_addr=a@example.com rcpt_addr=b@example.org}",
		"rcpt c@example.org ORCPT=rfc822;c@example.org {" + tx + "}",
	}
	for _, call := range without(imCalls[3:], "data", "eom") {
		calls = append(calls, call+" {"+tx+"}")
	}
	// Close sends SMFIC_ABORT before SMFIC_QUIT when the last reply was continue.
	return append(calls, "eom {"+tx+" i=Q1}", "abort", "close")
}

// The library cannot read SMFIR_ADDRCPT_PAR: offered SMFIF_ADDRCPT_PAR, our
// server sends it and the library fails at end of message.
func TestEmersionCannotReadAddRcptPar(t *testing.T) {
	p := &probe{needs: filter.Needs{Edits: filter.EditAddRecipientParams}}
	p.edit = func(_ context.Context, m *filter.Modifier, _ filter.Macros) []error {
		return nonNil([]error{m.AddRecipient(envelope.Address{Addr: "e@example.org",
			Params: []envelope.Param{{Key: "NOTIFY", Value: "NEVER"}}})})
	}
	_, addr := serve(t, p, Options{})
	s, tap := emSession(t, "tcp", addr, emActions|emilter.OptAddRcptWithArgs, 0)
	if s.ActionOpts != emilter.OptAddRcptWithArgs {
		t.Fatalf("negotiated actions %#x, want SMFIF_ADDRCPT_PAR", s.ActionOpts)
	}
	_, err := emRun{connect: true}.send(s)
	if err == nil {
		t.Fatal("the library read SMFIR_ADDRCPT_PAR; update this test and TestEmersionFullMessageEveryEdit")
	}
	if got := tap.Conn(t, 0).Received(); !strings.HasPrefix(got, "O"+strings.Repeat("c", 11)+"2") {
		t.Errorf("server replied %q, want SMFIR_ADDRCPT_PAR ('2') after the stage replies", got)
	}
	if errs := p.EditErrors(); len(errs) != 0 {
		t.Errorf("edit errors: %v", errs)
	}
}

// emWant is what the emersion library reports for verdict v: the action
// code and, for a custom reply, the code and the text after "NNN-".
func emWant(v filter.Verdict) emilter.Action {
	if v.Reply != nil {
		return emilter.Action{Code: emilter.ActReplyCode, SMTPCode: v.Reply.Code, SMTPText: v.Reply.String()[4:]}
	}
	switch v.Action {
	case filter.ActionReject:
		return emilter.Action{Code: emilter.ActReject}
	case filter.ActionTempFail:
		return emilter.Action{Code: emilter.ActTempFail}
	case filter.ActionDiscard:
		return emilter.Action{Code: emilter.ActDiscard}
	case filter.ActionAccept:
		return emilter.Action{Code: emilter.ActAccept}
	}
	panic("no expectation for " + v.String())
}

func TestEmersionVerdictsAtEachStage(t *testing.T) {
	stages := []filter.Stage{filter.StageConnect, filter.StageHelo, filter.StageMail, filter.StageRcpt,
		filter.StageHeader, filter.StageEndOfHeaders, filter.StageBody, filter.StageEndOfMessage}
	for _, st := range stages {
		for _, vc := range verdictCases {
			t.Run(st.String()+"/"+vc.name, func(t *testing.T) {
				p := &probe{verdicts: map[filter.Stage]filter.Verdict{st: vc.verdict}}
				_, addr := serve(t, p, Options{})
				s, _ := emSession(t, "tcp", addr, emActions, emProtocol)
				out, err := emRun{connect: true}.send(s)
				if err != nil {
					t.Fatal(err)
				}
				if want := emWant(vc.verdict); out.stage != st || out.act != want {
					t.Errorf("stopped at %v with %#v\nwant %v with %#v", out.stage, out.act, st, want)
				}
				if len(out.mods) != 0 {
					t.Errorf("modifications %v, want none", out.mods)
				}
			})
		}
	}
}

func TestEmersionSkippedStagesAreNotSent(t *testing.T) {
	p := &probe{needs: filter.Needs{
		Skip:               filter.Stages(filter.StageHelo, filter.StageRcpt, filter.StageEndOfHeaders, filter.StageBody),
		RejectedRecipients: true,
		HeaderLeadingSpace: true,
	}}
	_, addr := serve(t, p, Options{})
	s, tap := emSession(t, "tcp", addr, emActions, emProtocol)
	want := emilter.OptNoHelo | emilter.OptNoRcptTo | emilter.OptNoEOH | emilter.OptNoBody | emilter.OptRcptRej | emilter.OptHeaderLeadingSpace
	if s.ActionOpts != 0 || s.ProtocolOpts != want {
		t.Fatalf("negotiated actions %#x protocol %#x, want 0 and %#x", s.ActionOpts, s.ProtocolOpts, want)
	}
	out, err := emRun{connect: true}.send(s)
	if err != nil || out.stage != filter.StageEndOfMessage || out.act != emContinue {
		t.Fatalf("message: %v %v %v", out.stage, out.act, err)
	}
	s.Close()
	p.waitClosed(t, 1)
	if got, want := tap.Conn(t, 0).Sent(), "OCMLLLEAQ"; got != want {
		t.Errorf("client sent %q, want %q (no HELO, RCPT, EOH, body)", got, want)
	}
	wantCalls := concat([]string{"connect client.test 4 192.0.2.7:40000", imCalls[0]},
		without(imCalls[1:], "rcpt", "data", "eoh", "body"), []string{"abort", "close"})
	if got := p.Calls(); !reflect.DeepEqual(got, wantCalls) {
		t.Errorf("calls:\n%q\nwant\n%q", got, wantCalls)
	}
}

func TestEmersionNoReplyStages(t *testing.T) {
	nr := filter.Stages(filter.StageConnect, filter.StageHelo, filter.StageMail, filter.StageRcpt,
		filter.StageHeader, filter.StageEndOfHeaders, filter.StageBody)
	p := &probe{
		needs:    filter.Needs{NoReply: nr},
		verdicts: map[filter.Stage]filter.Verdict{filter.StageHeader: filter.TempFail}, // dropped
	}
	_, addr := serve(t, p, Options{})
	s, tap := emSession(t, "tcp", addr, emActions, emProtocol)
	want := emilter.OptNoConnReply | emilter.OptNoHeloReply | emilter.OptNoMailReply | emilter.OptNoRcptReply |
		emilter.OptNoHeaderReply | emilter.OptNoEOHReply | emilter.OptNoBodyReply
	if s.ProtocolOpts != want {
		t.Fatalf("negotiated protocol %#x, want %#x", s.ProtocolOpts, want)
	}
	for i := range 2 {
		out, err := emRun{connect: i == 0}.send(s)
		if err != nil || out.stage != filter.StageEndOfMessage || out.act != emContinue {
			t.Fatalf("message %d: %v %v %v", i, out.stage, out.act, err)
		}
	}
	s.Close()
	p.waitClosed(t, 1)
	conn := tap.Conn(t, 0)
	if got, want := conn.Sent(), "OCH"+"MRRLLLNBBE"+"MRRLLLNBBE"+"AQ"; got != want {
		t.Errorf("client sent %q, want %q", got, want)
	}
	if got, want := conn.Received(), "Occ"; got != want {
		t.Errorf("server replied %q, want %q: only the end of each message", got, want)
	}
	msg := without(imCalls, "data")
	wantCalls := concat([]string{"connect client.test 4 192.0.2.7:40000", "helo client.test"}, msg, msg, []string{"abort", "close"})
	if got := p.Calls(); !reflect.DeepEqual(got, wantCalls) {
		t.Errorf("calls:\n%q\nwant\n%q", got, wantCalls)
	}
}

// Without SMFIP_SKIP (the library cannot read SMFIR_SKIP) a filter's skip
// is answered as continue, and the server stops calling the filter for
// the rest of the body.
func TestEmersionBodySkipWithoutProtocolSkip(t *testing.T) {
	p := &probe{verdicts: map[filter.Stage]filter.Verdict{filter.StageBody: filter.Skip}}
	_, addr := serve(t, p, Options{})
	s, tap := emSession(t, "tcp", addr, emActions, emProtocol)
	out, err := emRun{connect: true}.send(s)
	if err != nil || out.stage != filter.StageEndOfMessage || out.act != emContinue {
		t.Fatalf("message: %v %v %v", out.stage, out.act, err)
	}
	if got, want := tap.Conn(t, 0).Received(), "O"+strings.Repeat("c", 12); got != want {
		t.Errorf("server replied %q, want %q", got, want)
	}
	if got, want := without(p.Calls(), "connect", "helo"), without(imCalls, "data", `body "world`); !reflect.DeepEqual(got, want) {
		t.Errorf("calls:\n%q\nwant\n%q", got, want)
	}
}

func TestEmersionSeveralMessagesOnOneConnection(t *testing.T) {
	p := &probe{needs: filter.Needs{Edits: filter.EditAddHeader}, edit: tagQueueID}
	_, addr := serve(t, p, Options{})
	s, tap := emSession(t, "tcp", addr, emActions, emProtocol)
	send := func(connect bool, qid string) {
		t.Helper()
		out, err := emRun{connect: connect, macros: true, queueID: qid}.send(s)
		want := []emilter.ModifyAction{{Code: emilter.ActAddHeader, HeaderName: "X-Queue-ID", HeaderValue: qid}}
		if err != nil || out.stage != filter.StageEndOfMessage || out.act != emContinue || !reflect.DeepEqual(out.mods, want) {
			t.Fatalf("message %s: %v %v %+v %v", qid, out.stage, out.act, out.mods, err)
		}
	}
	send(true, "Q1")
	send(false, "Q2")
	// A transaction aborted after MAIL, then a third message.
	if a, err := s.Mail(imFrom, nil); err != nil || *a != emContinue {
		t.Fatalf("mail: %v %v", a, err)
	}
	if err := s.Abort(); err != nil {
		t.Fatal(err)
	}
	send(false, "Q3")
	s.Close()
	p.waitClosed(t, 1)

	if n := tap.Dials(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
	if opened, _ := p.Sessions(); opened != 1 {
		t.Errorf("%d filter sessions, want 1", opened)
	}
	msg := without(imCalls, "data")
	want := concat([]string{"connect client.test 4 192.0.2.7:40000", "helo client.test"}, msg, msg,
		[]string{"mail a@example.com ", "abort"}, msg, []string{"abort", "close"})
	if got := p.Calls(); !reflect.DeepEqual(got, want) {
		t.Errorf("calls:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	m := "MRRLLLNBBE"
	if got, want := tap.Conn(t, 0).Sent(), "OCH"+m+m+"MA"+m+"AQ"; got != want {
		t.Errorf("client sent %q, want %q", got, want)
	}
}
