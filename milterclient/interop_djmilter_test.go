package milterclient_test

// Interop with the filter side of github.com/d--j/go-milter (v0.10.2): a
// protocol version 6 server with macro requests, no-reply stages,
// SMFIR_SKIP, multi-line replies and every modification.

import (
	"net"
	"reflect"
	"strings"
	"testing"

	dmilter "github.com/d--j/go-milter"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/filter"
	"github.com/sluice-mta/sluice/milter"
	"github.com/sluice-mta/sluice/milterclient"
)

// djMilter records calls and answers from its table.
type djMilter struct {
	dmilter.NoOpMilter
	log      *callLog
	verdicts map[string]*dmilter.Response
	eom      func(dmilter.Modifier) error
}

func (m *djMilter) answer(stage, call string) (*dmilter.Response, error) {
	m.log.add(call)
	if r, ok := m.verdicts[stage]; ok {
		return r, nil
	}
	return dmilter.RespContinue, nil
}

func (m *djMilter) Connect(host, family string, port uint16, addr string, _ dmilter.Modifier) (*dmilter.Response, error) {
	return m.answer("connect", "connect "+host+" "+family+" "+addr)
}
func (m *djMilter) Helo(name string, _ dmilter.Modifier) (*dmilter.Response, error) {
	return m.answer("helo", "helo "+name)
}
func (m *djMilter) MailFrom(from, args string, mod dmilter.Modifier) (*dmilter.Response, error) {
	return m.answer("mail", "mail "+from+" "+args+" i="+mod.Get("i"))
}
func (m *djMilter) RcptTo(to, args string, mod dmilter.Modifier) (*dmilter.Response, error) {
	return m.answer("rcpt", "rcpt "+to+" "+args+" rcpt_addr="+mod.Get("{rcpt_addr}"))
}
func (m *djMilter) Data(dmilter.Modifier) (*dmilter.Response, error) { return m.answer("data", "data") }
func (m *djMilter) Header(name, value string, _ dmilter.Modifier) (*dmilter.Response, error) {
	return m.answer("header", "header "+name+":"+value)
}
func (m *djMilter) Headers(dmilter.Modifier) (*dmilter.Response, error) {
	return m.answer("eoh", "eoh")
}
func (m *djMilter) BodyChunk(chunk []byte, _ dmilter.Modifier) (*dmilter.Response, error) {
	if len(chunk) > 40 {
		return m.answer("body", "body "+string(chunk[:40])+"…")
	}
	return m.answer("body", "body "+string(chunk))
}
func (m *djMilter) EndOfMessage(mod dmilter.Modifier) (*dmilter.Response, error) {
	if m.eom != nil {
		if err := m.eom(mod); err != nil {
			return nil, err
		}
	}
	return m.answer("eom", "eom i="+mod.Get("i"))
}
func (m *djMilter) Abort(dmilter.Modifier) error { m.log.add("abort"); return nil }
func (m *djMilter) Unknown(cmd string, _ dmilter.Modifier) (*dmilter.Response, error) {
	return m.answer("unknown", "unknown "+cmd)
}

func serveDJ(t *testing.T, m func() *djMilter, opts ...dmilter.Option) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := dmilter.NewServer(append([]dmilter.Option{dmilter.WithMilter(func() dmilter.Milter { return m() })}, opts...)...)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return inetAddr(l)
}

const djAllActions = dmilter.OptAddHeader | dmilter.OptChangeBody | dmilter.OptAddRcpt | dmilter.OptRemoveRcpt |
	dmilter.OptChangeHeader | dmilter.OptQuarantine | dmilter.OptChangeFrom | dmilter.OptAddRcptWithArgs

func TestDJEveryEdit(t *testing.T) {
	log := &callLog{}
	newBody := repeatBody(200 << 10)
	addr := serveDJ(t, func() *djMilter {
		return &djMilter{log: log, eom: func(m dmilter.Modifier) error {
			for _, err := range []error{
				m.AddHeader("X-DJ", "added\n\tfolded"),
				m.InsertHeader(0, "X-Top", "first"),
				m.ChangeHeader(1, "Subject", "changed"),
				m.ChangeHeader(1, "Received", ""),
				m.AddRecipient("c@example.org", ""),
				m.AddRecipient("d@example.org", "NOTIFY=NEVER ORCPT=rfc822;d@example.org"),
				m.DeleteRecipient("b@example.org"),
				m.ChangeFrom("bounce@example.com", "RET=HDRS ENVID=x1"),
				m.ReplaceBody(strings.NewReader(string(newBody))),
				m.Quarantine("held: " + strings.Repeat("reason ", 50)),
			} {
				if err != nil {
					return err
				}
			}
			return nil
		}}
	}, dmilter.WithActions(djAllActions))
	// v0.10.2 accepts the 1 MiB data size we offer by default, then refuses
	// to send its own replacement-body chunks of that size (it checks them
	// against 64 KiB); so this client offers no larger data size.
	c := newClient(t, milterclient.Options{Address: addr, Protocol: milter.ProtoAll})
	e := newEngine(t, c)
	m := sampleMessage()
	m.unknown = "FOO bar"
	e.connect(m)
	o := e.transaction(m)
	neg, _ := e.sess.(*milterclient.Session).Negotiated()
	e.close()
	// The library answers SMFIR_ACCEPT where its milter continues at end of message.
	if o.verdict != filter.Accept || o.stage != filter.StageEndOfMessage {
		t.Fatalf("%v at %v (%v)", o.verdict, o.stage, e.sess.(*milterclient.Session).Err())
	}
	if neg.Version != 6 || neg.Actions != milter.ActionFlags(djAllActions) || neg.Protocol != 0 {
		t.Errorf("negotiated %+v", neg)
	}
	want := []filter.Edit{
		{Kind: filter.AddHeader, Name: "X-DJ", Value: " added\r\n\tfolded"},
		{Kind: filter.InsertHeader, Name: "X-Top", Value: " first"},
		{Kind: filter.ChangeHeader, Name: "Subject", Index: 1, Value: " changed"},
		{Kind: filter.DeleteHeader, Name: "Received", Index: 1},
		{Kind: filter.AddRecipient, Address: envelope.Address{Addr: "c@example.org"}},
		{Kind: filter.AddRecipient, Address: envelope.Address{Addr: "d@example.org", Params: []envelope.Param{
			{Key: "NOTIFY", Value: "NEVER"}, {Key: "ORCPT", Value: "rfc822;d@example.org"}}}},
		{Kind: filter.DeleteRecipient, Address: envelope.Address{Addr: "b@example.org"}},
		{Kind: filter.ChangeSender, Address: envelope.Address{Addr: "bounce@example.com", Params: []envelope.Param{
			{Key: "RET", Value: "HDRS"}, {Key: "ENVID", Value: "x1"}}}},
		{Kind: filter.ReplaceBody},
		{Kind: filter.Quarantine, Reason: "held: " + strings.Repeat("reason ", 50)},
	}
	if !reflect.DeepEqual(o.edits, want) {
		t.Errorf("edits:\n%v\nwant\n%v", o.edits, want)
	}
	if string(o.body) != string(newBody) {
		t.Errorf("replaced body: %d bytes, want %d", len(o.body), len(newBody))
	}
	wantCalls := []string{"connect client.test tcp4 192.0.2.7", "helo client.test", "unknown FOO bar",
		"mail a@example.com SIZE=100 BODY=8BITMIME i=QID1", "rcpt b@example.org NOTIFY=SUCCESS,FAILURE rcpt_addr=b@example.org",
		"data", "header From:a@example.com", "header Subject:hi", "eoh", "body hello\r\n", "eom i=QID1"}
	if calls := log.get(); !reflect.DeepEqual(calls, wantCalls) {
		t.Errorf("calls:%s\nwant:%s", lines(calls), lines(wantCalls))
	}
}

func TestDJVerdicts(t *testing.T) {
	multi, err := dmilter.RejectWithCodeAndReason(550, "5.7.1 We do not like you\nvery much, 100% sure")
	must(t, err)
	temp, err := dmilter.RejectWithCodeAndReason(451, "4.3.0 later")
	must(t, err)
	tests := []struct {
		stage string
		resp  *dmilter.Response
		at    filter.Stage
		want  filter.Verdict
	}{
		{"connect", dmilter.RespReject, filter.StageConnect, filter.Reject},
		{"helo", temp, filter.StageHelo, filter.CustomReply(451, "4.3.0", "later")},
		{"unknown", dmilter.RespReject, filter.StageUnknown, filter.Reject},
		{"mail", dmilter.RespAccept, filter.StageMail, filter.Accept},
		{"rcpt", multi, filter.StageRcpt, filter.CustomReply(550, "5.7.1", "We do not like you", "very much, 100% sure")},
		{"data", dmilter.RespTempFail, filter.StageData, filter.TempFail},
		{"header", dmilter.RespDiscard, filter.StageHeader, filter.Discard},
		{"eoh", dmilter.RespReject, filter.StageEndOfHeaders, filter.Reject},
		{"body", dmilter.RespSkip, filter.StageBody, filter.Skip},
		{"eom", multi, filter.StageEndOfMessage, filter.CustomReply(550, "5.7.1", "We do not like you", "very much, 100% sure")},
	}
	for _, tt := range tests {
		t.Run(tt.stage, func(t *testing.T) {
			log := &callLog{}
			addr := serveDJ(t, func() *djMilter {
				return &djMilter{log: log, verdicts: map[string]*dmilter.Response{tt.stage: tt.resp}}
			})
			// 64 KiB body packets, so that a body verdict comes during Body.
			c := newClient(t, milterclient.Options{Address: addr, Protocol: milter.ProtoAll})
			e := newEngine(t, c)
			defer e.close()
			m := sampleMessage()
			m.unknown = "FOO"
			m.body = repeatBody(100000)
			for _, st := range e.steps(m, filter.NewModifier(filter.AllEdits, nil)) {
				got := st.run()
				if got == filter.Continue && (st.stage != tt.at || st.stage == filter.StageBody) {
					continue
				}
				if st.stage != tt.at || !reflect.DeepEqual(got, tt.want) {
					t.Fatalf("%v = %v, want %v at %v (%v)", st.stage, got, tt.want, tt.at, e.sess.(*milterclient.Session).Err())
				}
				return
			}
			t.Fatalf("no verdict at %v", tt.at)
		})
	}
}

// Macro requests, no-reply stages, skipped stages, SMFIR_SKIP for
// recipients, rejected recipients and the leading space, negotiated with
// the library and honoured.
func TestDJProtocol(t *testing.T) {
	log := &callLog{}
	addr := serveDJ(t, func() *djMilter {
		return &djMilter{log: log, verdicts: map[string]*dmilter.Response{"rcpt": dmilter.RespSkip}}
	},
		dmilter.WithProtocols(dmilter.OptNoHelo|dmilter.OptNoData|dmilter.OptNoHeaderReply|dmilter.OptNoConnReply|
			dmilter.OptNoBodyReply|dmilter.OptSkip|dmilter.OptRcptRej|dmilter.OptHeaderLeadingSpace),
		dmilter.WithMacroRequest(dmilter.StageRcpt, []dmilter.MacroName{dmilter.MacroRcptAddr}),
		dmilter.WithMacroRequest(dmilter.StageEOM, []dmilter.MacroName{dmilter.MacroQueueId}),
	)
	var pl packetLog
	c := newClient(t, milterclient.Options{Address: addr, Trace: pl.trace, Protocol: milter.ProtoAll})
	e := newEngine(t, c)
	m := sampleMessage()
	m.rcpts = append(m.rcpts, envelope.Address{Addr: "skipped@example.org"})
	m.body = repeatBody(150000)
	e.connect(m)
	o := e.transaction(m)
	neg, _ := e.sess.(*milterclient.Session).Negotiated()
	e.close()
	if o.verdict != filter.Accept || o.stage != filter.StageEndOfMessage {
		t.Fatalf("%v at %v (%v)", o.verdict, o.stage, e.sess.(*milterclient.Session).Err())
	}
	wantMacros := map[filter.Stage][]string{filter.StageRcpt: {"{rcpt_addr}"}, filter.StageEndOfMessage: {"i"}}
	if !reflect.DeepEqual(neg.Macros, wantMacros) {
		t.Errorf("negotiated macros %v, want %v", neg.Macros, wantMacros)
	}
	wantCalls := []string{"connect client.test tcp4 192.0.2.7",
		"mail a@example.com SIZE=100 BODY=8BITMIME i=QID1", // stages the milter's lists do not name get the defaults
		"rcpt b@example.org NOTIFY=SUCCESS,FAILURE rcpt_addr=b@example.org",
		"header From: a@example.com", "header Subject: hi", "eoh",
		"body " + string(m.body[:40]) + "…", "body " + string(m.body[65535:65575]) + "…", "body " + string(m.body[131070:131110]) + "…",
		"eom i=QID1"}
	if calls := log.get(); !reflect.DeepEqual(calls, wantCalls) {
		t.Errorf("calls:%s\nwant:%s", lines(calls), lines(wantCalls))
	}
	// Replies: negotiation, MAIL, the first RCPT (skip), EOH, end of message.
	wantReceived := []string{"SMFIC_OPTNEG", "SMFIR_CONTINUE", "SMFIR_SKIP", "SMFIR_CONTINUE", "SMFIR_ACCEPT"}
	if !reflect.DeepEqual(pl.received, wantReceived) {
		t.Errorf("received %v, want %v", pl.received, wantReceived)
	}
}

// With the default offer the library takes 1 MiB body packets.
func TestDJLargeBodyChunks(t *testing.T) {
	log := &callLog{}
	addr := serveDJ(t, func() *djMilter { return &djMilter{log: log} })
	c := newClient(t, milterclient.Options{Address: addr})
	e := newEngine(t, c)
	m := sampleMessage()
	m.headers, m.body = nil, repeatBody(3<<20)
	e.connect(m)
	o := e.transaction(m)
	e.close()
	if o.verdict != filter.Accept {
		t.Fatalf("%v at %v (%v)", o.verdict, o.stage, e.sess.(*milterclient.Session).Err())
	}
	var bodies []string
	for _, c := range log.get() {
		if strings.HasPrefix(c, "body") {
			bodies = append(bodies, c)
		}
	}
	var want []string
	for off := 0; off < len(m.body); off += milter.ChunkSize1M {
		if rest := m.body[off:]; len(rest) > 40 {
			want = append(want, "body "+string(rest[:40])+"…")
		} else {
			want = append(want, "body "+string(rest))
		}
	}
	if !reflect.DeepEqual(bodies, want) {
		t.Errorf("body calls %q, want %q", bodies, want)
	}
}
