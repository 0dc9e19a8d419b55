package milterclient_test

// Round trips against our own milter server: the client drives miltersrv,
// which drives a recording filter; verdicts and edits come back.

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/filter"
	"github.com/sluice-mta/sluice/milter"
	"github.com/sluice-mta/sluice/milterclient"
	"github.com/sluice-mta/sluice/miltersrv"
)

// wantCalls is what the recorder sees of sampleMessage with nothing
// negotiated away.
var wantCalls = []string{
	"connect client.test 4 192.0.2.7:40000",
	"helo client.test",
	"mail <a@example.com> SIZE=100 BODY=8BITMIME",
	"rcpt <b@example.org> NOTIFY=SUCCESS,FAILURE",
	"data",
	`header From:"a@example.com"`,
	`header Subject:"hi"`,
	"eoh",
	`body "hello\r\n"`,
	"eom",
	"close",
}

func TestMiltersrvEveryEdit(t *testing.T) {
	newBody := repeatBody(300 << 10) // more than MemoryBody: spooled to a file
	longReason := "looks odd: " + strings.Repeat("a reason Postfix would drop, ", 20)
	rec := &recorder{
		needs: filter.Needs{Edits: filter.AllEdits},
		eom: func(m *filter.Modifier) {
			must(t, m.AddHeader("X-Added", "yes"))
			must(t, m.AddHeader("X-Folded", "a\r\n\tb"))
			must(t, m.InsertHeader(0, "X-First", "1"))
			must(t, m.ChangeHeader("Subject", 1, "changed"))
			must(t, m.DeleteHeader("Received", 2))
			must(t, m.AddRecipient(envelope.Address{Addr: "c@example.org"}))
			must(t, m.AddRecipient(envelope.Address{Addr: "d@example.org", Params: []envelope.Param{
				{Key: "NOTIFY", Value: "NEVER"}, {Key: "ORCPT", Value: "rfc822;d@example.org"}}}))
			must(t, m.DeleteRecipient("b@example.org"))
			must(t, m.ChangeSender(envelope.Address{Addr: "bounce@example.com", Params: []envelope.Param{
				{Key: "RET", Value: "HDRS"}, {Key: "ENVID", Value: "abc"}}}))
			must(t, m.ReplaceBody(bytes.NewReader(newBody)))
			must(t, m.Quarantine(longReason))
		},
	}
	c := newClient(t, milterclient.Options{Address: serveFilter(t, rec, miltersrv.Options{})})
	e := newEngine(t, c)
	if o := e.connect(sampleMessage()); o.verdict != filter.Continue {
		t.Fatalf("connect: %v at %v", o.verdict, o.stage)
	}
	o := e.transaction(sampleMessage())
	e.close()

	if o.stage != filter.StageEndOfMessage || o.verdict != filter.Continue {
		t.Fatalf("outcome %v at %v, want continue at eom", o.verdict, o.stage)
	}
	want := []filter.Edit{
		{Kind: filter.AddHeader, Name: "X-Added", Value: " yes"},
		{Kind: filter.AddHeader, Name: "X-Folded", Value: " a\r\n\tb"},
		{Kind: filter.InsertHeader, Name: "X-First", Value: " 1"},
		{Kind: filter.ChangeHeader, Name: "Subject", Index: 1, Value: " changed"},
		{Kind: filter.DeleteHeader, Name: "Received", Index: 2},
		{Kind: filter.AddRecipient, Address: envelope.Address{Addr: "c@example.org"}},
		{Kind: filter.AddRecipient, Address: envelope.Address{Addr: "d@example.org", Params: []envelope.Param{
			{Key: "NOTIFY", Value: "NEVER"}, {Key: "ORCPT", Value: "rfc822;d@example.org"}}}},
		{Kind: filter.DeleteRecipient, Address: envelope.Address{Addr: "b@example.org"}},
		{Kind: filter.ChangeSender, Address: envelope.Address{Addr: "bounce@example.com", Params: []envelope.Param{
			{Key: "RET", Value: "HDRS"}, {Key: "ENVID", Value: "abc"}}}},
		{Kind: filter.ReplaceBody},
		{Kind: filter.Quarantine, Reason: longReason},
	}
	if !reflect.DeepEqual(o.edits, want) {
		t.Errorf("edits:\n%v\nwant\n%v", o.edits, want)
	}
	if !bytes.Equal(o.body, newBody) {
		t.Errorf("replaced body: %d bytes, want %d (equal prefix %v)", len(o.body), len(newBody), bytes.HasPrefix(newBody, o.body))
	}
	if calls := rec.waitCalls(t, "close"); !reflect.DeepEqual(calls, wantCalls) {
		t.Errorf("calls:%s\nwant:%s", lines(calls), lines(wantCalls))
	}
}

func TestMiltersrvVerdicts(t *testing.T) {
	reply := func(a filter.Action, code int, enh string, ls ...string) filter.Verdict {
		return filter.Verdict{Action: a, Reply: &filter.Reply{Code: code, Enhanced: enh, Lines: ls}}
	}
	tests := []struct {
		name  string
		stage filter.Stage
		give  filter.Verdict
		want  filter.Verdict
	}{
		{"reject connect", filter.StageConnect, filter.Reject, filter.Reject},
		{"tempfail helo", filter.StageHelo, filter.TempFail, filter.TempFail},
		{"custom unknown", filter.StageUnknown, filter.CustomReply(502, "5.5.2", "what?"), reply(filter.ActionReject, 502, "5.5.2", "what?")},
		{"accept mail", filter.StageMail, filter.Accept, filter.Accept},
		{"custom rcpt", filter.StageRcpt, filter.CustomReply(550, "5.1.1", "no such user"), reply(filter.ActionReject, 550, "5.1.1", "no such user")},
		{"percent undone, code supplied", filter.StageRcpt, filter.CustomReply(550, "", "100% full"), reply(filter.ActionReject, 550, "5.7.1", "100% full")},
		{"multi-line data", filter.StageData, filter.CustomReply(451, "4.7.1", "try", "later"), reply(filter.ActionTempFail, 451, "4.7.1", "try", "later")},
		{"discard header", filter.StageHeader, filter.Discard, filter.Discard},
		{"reject eoh", filter.StageEndOfHeaders, filter.Reject, filter.Reject},
		{"skip body", filter.StageBody, filter.Skip, filter.Skip},
		{"tempfail body", filter.StageBody, filter.TempFail, filter.TempFail},
		{"custom eom", filter.StageEndOfMessage, filter.CustomReply(554, "5.7.1", "spam"), reply(filter.ActionReject, 554, "5.7.1", "spam")},
		{"accept eom", filter.StageEndOfMessage, filter.Accept, filter.Accept},
		{"discard eom", filter.StageEndOfMessage, filter.Discard, filter.Discard},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{verdicts: map[filter.Stage]filter.Verdict{tt.stage: tt.give}}
			c := newClient(t, milterclient.Options{Address: serveFilter(t, rec, miltersrv.Options{})})
			e := newEngine(t, c)
			defer e.close()
			m := sampleMessage()
			m.unknown = "FOO bar"
			m.body = repeatBody(70000) // one full chunk goes out during Body
			mod := filter.NewModifier(filter.AllEdits, nil)
			for i, st := range e.steps(m, mod) {
				got := st.run()
				if st.stage == filter.StageBody && got == filter.Continue {
					continue // gathered until a full chunk goes out
				}
				if st.stage != tt.stage {
					if got != filter.Continue {
						t.Fatalf("step %d (%v) = %v, want continue", i, st.stage, got)
					}
					continue
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Fatalf("%v = %v, want %v", st.stage, got, tt.want)
				}
				return
			}
			t.Fatalf("stage %v never reached", tt.stage)
		})
	}
}

// After a decision for the message or the connection the milter hears
// nothing more of it; the decision stands.
func TestMiltersrvDecisionStands(t *testing.T) {
	tests := []struct {
		name      string
		stage     filter.Stage
		give      filter.Verdict
		wantCalls []string
		later     filter.Verdict // what later stages of the message answer
	}{
		{"accept at connect", filter.StageConnect, filter.Accept, []string{"connect client.test 4 192.0.2.7:40000", "close"}, filter.Accept},
		{"reject at helo", filter.StageHelo, filter.Reject, []string{"connect client.test 4 192.0.2.7:40000", "helo client.test", "close"}, filter.Reject},
		{"accept at mail", filter.StageMail, filter.Accept, wantCalls[:3:3], filter.Accept},
		{"discard at data", filter.StageData, filter.Discard, wantCalls[:5:5], filter.Discard},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{verdicts: map[filter.Stage]filter.Verdict{tt.stage: tt.give}}
			c := newClient(t, milterclient.Options{Address: serveFilter(t, rec, miltersrv.Options{})})
			e := newEngine(t, c)
			mod := filter.NewModifier(filter.AllEdits, nil)
			reached := false
			for _, st := range e.steps(sampleMessage(), mod) {
				got := st.run()
				switch {
				case st.stage == tt.stage && !reached:
					reached = true
					if got != tt.give {
						t.Fatalf("%v = %v, want %v", st.stage, got, tt.give)
					}
				case reached && got != tt.later:
					t.Fatalf("%v after the decision = %v, want %v", st.stage, got, tt.later)
				}
			}
			e.close()
			want := append(tt.wantCalls, "close")
			if tt.wantCalls[len(tt.wantCalls)-1] == "close" {
				want = tt.wantCalls
			}
			if calls := rec.waitCalls(t, "close"); !reflect.DeepEqual(calls, want) {
				t.Errorf("calls:%s\nwant:%s", lines(calls), lines(want))
			}
		})
	}
}

// Several transactions share one milter connection, with SMFIC_ABORT
// between them.
func TestMiltersrvTransactions(t *testing.T) {
	rec := &recorder{macros: map[filter.Stage][]string{filter.StageMail: {"i"}, filter.StageEndOfMessage: {"i"}}}
	var dials int
	c := newClient(t, milterclient.Options{
		Address: serveFilter(t, rec, miltersrv.Options{}),
		Trace: func(tr milterclient.Trace) {
			if _, ok := tr.Command.(milter.OptNeg); ok {
				dials++
			}
		},
	})
	e := newEngine(t, c)
	m := sampleMessage()
	m.headers, m.body = nil, nil
	e.connect(m)
	if o := e.transaction(m); o.verdict != filter.Continue {
		t.Fatalf("first message: %v at %v", o.verdict, o.stage)
	}
	e.qid++
	e.macros.Set("i", "QID2")
	if v := e.sess.Mail(e.ctx, m.from); v != filter.Continue {
		t.Fatalf("second MAIL: %v", v)
	}
	e.sess.Abort(e.ctx) // RSET
	if o := e.transaction(m); o.verdict != filter.Continue {
		t.Fatalf("third message: %v at %v", o.verdict, o.stage)
	}
	e.close()
	want := []string{
		"connect client.test 4 192.0.2.7:40000", "helo client.test",
		"mail <a@example.com> SIZE=100 BODY=8BITMIME i=QID1", "rcpt <b@example.org> NOTIFY=SUCCESS,FAILURE", "data", "eoh", "eom i=QID1",
		"abort", "mail <a@example.com> SIZE=100 BODY=8BITMIME i=QID2",
		"abort", "mail <a@example.com> SIZE=100 BODY=8BITMIME i=QID3", "rcpt <b@example.org> NOTIFY=SUCCESS,FAILURE", "data", "eoh", "eom i=QID3",
		"close",
	}
	if calls := rec.waitCalls(t, "close"); !reflect.DeepEqual(calls, want) {
		t.Errorf("calls:%s\nwant:%s", lines(calls), lines(want))
	}
	if dials != 1 {
		t.Errorf("%d connections to the milter, want 1", dials)
	}
}
