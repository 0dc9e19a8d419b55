package miltersrv

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/filter"
	"github.com/sluice-mta/sluice/milter"
)

func TestFullSessionWithEveryEdit(t *testing.T) {
	rec := &recorder{
		needs: filter.Needs{Edits: filter.AllEdits},
		eom: func(_ context.Context, m *filter.Modifier) {
			must(t, m.AddHeader("X-Added", "yes"))
			must(t, m.AddHeader("X-Folded", "a\r\n\tb"))
			must(t, m.InsertHeader(0, "X-First", "1"))
			must(t, m.ChangeHeader("Subject", 1, "changed"))
			must(t, m.DeleteHeader("Received", 2))
			must(t, m.AddRecipient(envelope.Address{Addr: "c@example.org"}))
			must(t, m.AddRecipient(envelope.Address{Addr: "d@example.org", Params: []envelope.Param{{Key: "NOTIFY", Value: "NEVER"}}}))
			must(t, m.DeleteRecipient("b@example.org"))
			must(t, m.ChangeSender(envelope.Address{Addr: "bounce@example.com", Params: []envelope.Param{{Key: "RET", Value: "HDRS"}}}))
			must(t, m.ReplaceBody(strings.NewReader("new body\r\n")))
			must(t, m.Quarantine("looks odd"))
		},
	}
	_, addr := serve(t, rec, Options{})
	m := dialMTA(t, addr)
	got := m.negotiate(6, allActions, allProtocol)
	want := milter.OptNeg{Version: 6,
		Actions:  allActions &^ milter.ActSetSymList,
		Protocol: milter.ProtoSkip}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("negotiated %#v, want %#v", got, want)
	}
	cmds := messageCommands()
	for _, c := range cmds[:len(cmds)-1] {
		m.send(c)
		if _, isMacro := c.(milter.Macro); !isMacro {
			m.expect(milter.Continue{})
		}
	}
	m.send(milter.EndOfBody{})
	m.expect(
		milter.AddHeader{Name: "X-Added", Value: "yes"},
		milter.AddHeader{Name: "X-Folded", Value: "a\n\tb"},
		milter.InsertHeader{Index: 0, Name: "X-First", Value: "1"},
		milter.ChangeHeader{Index: 1, Name: "Subject", Value: "changed"},
		milter.ChangeHeader{Index: 2, Name: "Received"},
		milter.AddRcpt{Rcpt: "<c@example.org>"},
		milter.AddRcptPar{Rcpt: "<d@example.org>", Args: "NOTIFY=NEVER"},
		milter.DelRcpt{Rcpt: "<b@example.org>"},
		milter.ChangeFrom{From: "<bounce@example.com>", Args: "RET=HDRS"},
		milter.ReplaceBody{Chunk: []byte("new body\r\n")},
		milter.Quarantine{Reason: "looks odd"},
		milter.Continue{},
	)
	m.send(milter.Quit{})
	m.expectClosed()
	waitFor(t, "session close", func() bool { return len(rec.Calls()) == 10 })
	wantCalls := []string{
		"connect client.test 192.0.2.7:40000", "helo client.test",
		"mail a@example.com SIZE=100 BODY=8BITMIME i=QID1", "rcpt b@example.org", "data",
		"header Subject:hi", "eoh", "body hello\r\n", "eom", "close",
	}
	if calls := rec.Calls(); !reflect.DeepEqual(calls[:len(wantCalls)], wantCalls) {
		t.Errorf("calls = %q\nwant %q", calls, wantCalls)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestVerdictsAtEachStage(t *testing.T) {
	tests := []struct {
		name    string
		stage   filter.Stage
		verdict filter.Verdict
		want    milter.Response
	}{
		{"reject connect", filter.StageConnect, filter.Reject, milter.Reject{}},
		{"tempfail helo", filter.StageHelo, filter.TempFail, milter.TempFail{}},
		{"accept mail", filter.StageMail, filter.Accept, milter.Accept{}},
		{"custom rcpt", filter.StageRcpt, filter.CustomReply(550, "5.1.1", "no such user"), milter.ReplyCode{Text: "550 5.1.1 no such user"}},
		{"multi-line data", filter.StageData, filter.CustomReply(451, "4.7.1", "try", "later"), milter.ReplyCode{Text: "451-4.7.1 try\r\n451 4.7.1 later"}},
		{"discard header", filter.StageHeader, filter.Discard, milter.Discard{}},
		{"skip body", filter.StageBody, filter.Skip, milter.Skip{}},
		{"reject eom", filter.StageEndOfMessage, filter.CustomReply(554, "5.7.1", "spam"), milter.ReplyCode{Text: "554 5.7.1 spam"}},
		{"invalid reply falls back", filter.StageMail, filter.Verdict{Action: filter.ActionReject, Reply: &filter.Reply{Code: 450, Enhanced: "5.0.0"}}, milter.Reject{}},
		{"percent doubled, enhanced code supplied", filter.StageRcpt, filter.CustomReply(550, "", "100% full"), milter.ReplyCode{Text: "550 5.7.1 100%% full"}},
		{"unknown", filter.StageUnknown, filter.CustomReply(502, "5.5.2", "what?"), milter.ReplyCode{Text: "502 5.5.2 what?"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{verdicts: map[filter.Stage]filter.Verdict{tt.stage: tt.verdict}}
			_, addr := serve(t, rec, Options{})
			m := dialMTA(t, addr)
			m.negotiate(6, allActions, allProtocol)
			if tt.stage == filter.StageUnknown {
				m.send(milter.Unknown{Line: "FOO bar"})
				m.expect(tt.want)
				return
			}
			for _, c := range messageCommands() {
				m.send(c)
				if _, isMacro := c.(milter.Macro); isMacro {
					continue
				}
				if got := m.recv(); !reflect.DeepEqual(got, milter.Response(milter.Continue{})) {
					if !reflect.DeepEqual(got, tt.want) {
						t.Fatalf("after %v: reply %#v, want %#v", c, got, tt.want)
					}
					return
				}
			}
			t.Fatalf("never got %#v", tt.want)
		})
	}
}

func TestNegotiationHonoursNeeds(t *testing.T) {
	rec := &recorder{needs: filter.Needs{
		Skip:               filter.Stages(filter.StageHelo, filter.StageData, filter.StageUnknown),
		NoReply:            filter.Stages(filter.StageHeader, filter.StageConnect),
		Edits:              filter.EditAddHeader,
		Macros:             map[filter.Stage][]string{filter.StageConnect: {"j", "client_addr"}, filter.StageMail: {"{mail_addr}"}},
		RejectedRecipients: true,
		HeaderLeadingSpace: true,
	}}
	_, addr := serve(t, rec, Options{MaxPacket: milter.MaxPacketFor(milter.ProtoMDS1M)})
	m := dialMTA(t, addr)
	got := m.negotiate(6, allActions, allProtocol)
	want := milter.OptNeg{Version: 6,
		Actions: milter.ActAddHeader | milter.ActSetSymList,
		Protocol: milter.ProtoNoHelo | milter.ProtoNoData | milter.ProtoNoUnknown | milter.ProtoNRHeader |
			milter.ProtoNRConnect | milter.ProtoSkip | milter.ProtoRcptRej | milter.ProtoHdrLeadSpace | milter.ProtoMDS1M,
		SymLists: []milter.SetSymList{{Stage: milter.MacroConnect, Macros: "j {client_addr}"}, {Stage: milter.MacroMail, Macros: "{mail_addr}"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("negotiated\n%#v\nwant\n%#v", got, want)
	}
	// No reply to connect or header; helo is answered without calling the filter.
	m.send(milter.Connect{Hostname: "h", Family: 'U'}, milter.Helo{Name: "x"})
	m.expect(milter.Continue{})
	m.send(milter.Header{Name: "A", Value: " b\n\tc"}, milter.EndOfHeaders{})
	m.expect(milter.Continue{})
	waitFor(t, "calls", func() bool { return len(rec.Calls()) == 3 })
	if calls := rec.Calls(); !reflect.DeepEqual(calls, []string{"connect h invalid AddrPort", "header A: b\r\n\tc", "eoh"}) {
		t.Errorf("calls = %q", calls)
	}
}

func TestOlderMTAVersionAndMissingActions(t *testing.T) {
	rec := &recorder{needs: filter.Needs{Edits: filter.EditQuarantine}}
	_, addr := serve(t, rec, Options{})
	m := dialMTA(t, addr)
	got := m.negotiate(2, milter.ActQuarantine|milter.ActAddHeader, milter.ProtoNoConnect)
	if got.Version != 2 || got.Actions != milter.ActQuarantine || got.Protocol != 0 {
		t.Errorf("negotiated %#v, want version 2, quarantine only", got)
	}
	m2 := dialMTA(t, addr)
	m2.send(milter.OptNeg{Version: 6, Actions: milter.ActAddHeader})
	m2.expectClosed()
}

func TestPanicEndsOnlyThatSession(t *testing.T) {
	rec := &recorder{panics: true, panicAt: filter.StageMail}
	srv, addr := serve(t, rec, Options{FailureVerdict: filter.Reject})
	m := dialMTA(t, addr)
	m.negotiate(6, allActions, allProtocol)
	m.send(milter.Connect{Hostname: "h", Family: 'U'})
	m.expect(milter.Continue{})
	m.send(milter.Mail{Args: []string{"<x@y>"}})
	m.expect(milter.Reject{})
	m.expectClosed()
	waitFor(t, "session closed", func() bool { return srv.Connections() == 0 })
	// The server still serves.
	m2 := dialMTA(t, addr)
	m2.negotiate(6, allActions, allProtocol)
	m2.send(milter.Helo{Name: "again"})
	m2.expect(milter.Continue{})
}

func TestProgressDuringSlowEndOfMessage(t *testing.T) {
	rec := &recorder{eom: func(ctx context.Context, m *filter.Modifier) {
		must(t, m.Progress(ctx))
		time.Sleep(120 * time.Millisecond)
	}}
	_, addr := serve(t, rec, Options{ProgressInterval: 20 * time.Millisecond})
	m := dialMTA(t, addr)
	m.negotiate(6, allActions, allProtocol)
	m.send(milter.EndOfBody{})
	progress := 0
	for {
		r := m.recv()
		if _, ok := r.(milter.Progress); ok {
			progress++
			continue
		}
		if !reflect.DeepEqual(r, milter.Response(milter.Continue{})) {
			t.Fatalf("final reply %#v", r)
		}
		break
	}
	if progress < 2 {
		t.Errorf("got %d progress replies, want the explicit one and at least one from the ticker", progress)
	}
}

func TestConnectionReuseAcrossSessions(t *testing.T) {
	rec := &recorder{}
	_, addr := serve(t, rec, Options{})
	m := dialMTA(t, addr)
	m.negotiate(6, allActions, allProtocol)
	for i := 0; i < 3; i++ {
		m.send(milter.Connect{Hostname: "h", Family: 'U'}, milter.Mail{Args: []string{"<a@b>"}})
		m.expect(milter.Continue{}, milter.Continue{})
		m.send(milter.Abort{}, milter.Mail{Args: []string{"<c@d>"}}, milter.EndOfBody{})
		m.expect(milter.Continue{}, milter.Continue{})
		m.send(milter.QuitNewConn{})
	}
	m.send(milter.Quit{})
	m.expectClosed()
	waitFor(t, "3 closed sessions", func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return rec.sessions == 3 && rec.closed == 3
	})
	calls := rec.Calls()
	wantOne := []string{"connect h invalid AddrPort", "mail a@b  i=", "abort", "mail c@d  i=", "eom", "close"}
	if !reflect.DeepEqual(calls[:6], wantOne) || len(calls) != 18 {
		t.Errorf("calls = %q", calls)
	}
}

func TestMacrosPerStage(t *testing.T) {
	var seen []string
	rec := &recorder{}
	rec.eom = nil
	f := macroProbe{stages: &seen}
	_, addr := serve(t, f, Options{})
	m := dialMTA(t, addr)
	m.negotiate(6, allActions, allProtocol)
	m.send(
		milter.Macro{Stage: milter.CmdConnect, Pairs: []string{"j", "mx", "{client_addr}", "192.0.2.1"}},
		milter.Connect{Hostname: "h", Family: '4', Port: 25, Address: "192.0.2.1"},
		milter.Macro{Stage: milter.CmdMail, Pairs: []string{"i", "Q1", "{mail_addr}", "a@b"}},
		milter.Mail{Args: []string{"<a@b>"}},
		milter.Abort{},
		milter.Mail{Args: []string{"<c@d>"}},
		milter.Macro{Stage: milter.CmdEndOfBody, Pairs: []string{"i", "Q2"}},
		milter.EndOfBody{},
	)
	m.expect(milter.Continue{}, milter.Continue{}, milter.Continue{}, milter.Continue{})
	want := []string{
		"connect j=mx client_addr=192.0.2.1 i=",
		"mail j=mx client_addr=192.0.2.1 i=Q1",
		"mail j=mx client_addr=192.0.2.1 i=",
		"eom j=mx client_addr=192.0.2.1 i=Q2",
	}
	if !reflect.DeepEqual(seen, want) {
		t.Errorf("macros seen:\n%q\nwant\n%q", seen, want)
	}
}

type macroProbe struct{ stages *[]string }

func (macroProbe) Needs() filter.Needs { return filter.Needs{} }
func (p macroProbe) NewSession(_ context.Context, m filter.Macros) (filter.Session, error) {
	return &macroProbeSession{p: p, m: m}, nil
}

type macroProbeSession struct {
	filter.Base
	p macroProbe
	m filter.Macros
}

func (s *macroProbeSession) note(stage string) {
	j, _ := s.m.Macro("j")
	ca, _ := s.m.Macro("{client_addr}")
	i, _ := s.m.Macro("i")
	*s.p.stages = append(*s.p.stages, stage+" j="+j+" client_addr="+ca+" i="+i)
}

func (s *macroProbeSession) Connect(context.Context, *envelope.Conn) filter.Verdict {
	s.note("connect")
	return filter.Continue
}
func (s *macroProbeSession) Mail(context.Context, envelope.Address) filter.Verdict {
	s.note("mail")
	return filter.Continue
}
func (s *macroProbeSession) EndOfMessage(context.Context, *filter.Modifier) filter.Verdict {
	s.note("eom")
	return filter.Continue
}
