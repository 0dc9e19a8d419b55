package milterclient_test

// Interop with the filter side of github.com/emersion/go-milter (v0.5.0):
// a protocol version 2 server. The client must fall back: no SMFIC_DATA
// or SMFIC_UNKNOWN (the library drops the connection on the latter), and
// the library's LF line ends in a replaced body become CRLF.

import (
	"errors"
	"log/slog"
	"net"
	"net/textproto"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	emilter "github.com/emersion/go-milter"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/filter"
	"github.com/sluice-mta/sluice/milter"
	"github.com/sluice-mta/sluice/milterclient"
)

// emMilter records calls and answers from its table.
type emMilter struct {
	log      *callLog
	verdicts map[string]emilter.Response
	edits    bool
}

type callLog struct {
	mu    sync.Mutex
	calls []string
}

func (l *callLog) add(s string) {
	l.mu.Lock()
	l.calls = append(l.calls, s)
	l.mu.Unlock()
}

func (l *callLog) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.calls...)
}

func (m *emMilter) answer(stage, call string) (emilter.Response, error) {
	m.log.add(call)
	if r, ok := m.verdicts[stage]; ok {
		return r, nil
	}
	return emilter.RespContinue, nil
}

func (m *emMilter) Connect(host, family string, port uint16, addr net.IP, _ *emilter.Modifier) (emilter.Response, error) {
	return m.answer("connect", "connect "+host+" "+family+" "+addr.String())
}
func (m *emMilter) Helo(name string, _ *emilter.Modifier) (emilter.Response, error) {
	return m.answer("helo", "helo "+name)
}
func (m *emMilter) MailFrom(from string, mod *emilter.Modifier) (emilter.Response, error) {
	return m.answer("mail", "mail "+from+" i="+mod.Macros["i"])
}
func (m *emMilter) RcptTo(to string, _ *emilter.Modifier) (emilter.Response, error) {
	return m.answer("rcpt", "rcpt "+to)
}
func (m *emMilter) Header(name, value string, _ *emilter.Modifier) (emilter.Response, error) {
	return m.answer("header", "header "+name+": "+value)
}
func (m *emMilter) Headers(textproto.MIMEHeader, *emilter.Modifier) (emilter.Response, error) {
	return m.answer("eoh", "eoh")
}
func (m *emMilter) BodyChunk(chunk []byte, _ *emilter.Modifier) (emilter.Response, error) {
	return m.answer("body", "body "+string(chunk))
}
func (m *emMilter) Body(mod *emilter.Modifier) (emilter.Response, error) {
	if m.edits {
		for _, err := range []error{
			mod.AddHeader("X-Em", "added"),
			mod.InsertHeader(0, "X-Top", "first"),
			mod.ChangeHeader(1, "Subject", "changed"),
			mod.ChangeHeader(2, "Received", ""),
			mod.AddRecipient("c@example.org"),
			mod.DeleteRecipient("b@example.org"),
			mod.ChangeFrom("<bounce@example.com>"),
			mod.ReplaceBody([]byte("new\r\nbody\r\n")),
			mod.Quarantine("held by emersion"),
		} {
			if err != nil {
				return nil, err
			}
		}
	}
	return m.answer("eom", "eom i="+mod.Macros["i"])
}
func (m *emMilter) Abort(*emilter.Modifier) error { m.log.add("abort"); return nil }

func serveEmersion(t *testing.T, m func() *emMilter, acts emilter.OptAction, proto emilter.OptProtocol) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &emilter.Server{NewMilter: func() emilter.Milter { return m() }, Actions: acts, Protocol: proto}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; !errors.Is(err, emilter.ErrServerClosed) {
			t.Errorf("emersion Serve: %v", err)
		}
	})
	return inetAddr(l)
}

const emAllActions = emilter.OptAddHeader | emilter.OptChangeBody | emilter.OptAddRcpt | emilter.OptRemoveRcpt |
	emilter.OptChangeHeader | emilter.OptQuarantine | emilter.OptChangeFrom

func TestEmersionEveryEdit(t *testing.T) {
	log := &callLog{}
	addr := serveEmersion(t, func() *emMilter { return &emMilter{log: log, edits: true} }, emAllActions, 0)
	c := newClient(t, milterclient.Options{Address: addr})
	e := newEngine(t, c)
	m := sampleMessage()
	m.unknown = "FOO"
	if o := e.connect(m); o.verdict != filter.Continue {
		t.Fatalf("connect: %v at %v (%v)", o.verdict, o.stage, e.sess.(*milterclient.Session).Err())
	}
	o := e.transaction(m)
	neg, _ := e.sess.(*milterclient.Session).Negotiated()
	e.close()
	if neg.Version != 2 {
		t.Errorf("negotiated version %d, want 2", neg.Version)
	}
	if o.verdict != filter.Continue || o.stage != filter.StageEndOfMessage {
		t.Fatalf("%v at %v (%v)", o.verdict, o.stage, e.sess.(*milterclient.Session).Err())
	}
	want := []filter.Edit{
		{Kind: filter.AddHeader, Name: "X-Em", Value: " added"},
		{Kind: filter.InsertHeader, Name: "X-Top", Value: " first"},
		{Kind: filter.ChangeHeader, Name: "Subject", Index: 1, Value: " changed"},
		{Kind: filter.DeleteHeader, Name: "Received", Index: 2},
		{Kind: filter.AddRecipient, Address: envelope.Address{Addr: "c@example.org"}},
		{Kind: filter.DeleteRecipient, Address: envelope.Address{Addr: "b@example.org"}},
		{Kind: filter.ChangeSender, Address: envelope.Address{Addr: "bounce@example.com"}},
		{Kind: filter.ReplaceBody},
		{Kind: filter.Quarantine, Reason: "held by emersion"},
	}
	if !reflect.DeepEqual(o.edits, want) {
		t.Errorf("edits:\n%v\nwant\n%v", o.edits, want)
	}
	if string(o.body) != "new\r\nbody\r\n" {
		t.Errorf("replaced body %q", o.body)
	}
	wantCalls := []string{"connect client.test tcp4 192.0.2.7", "helo client.test", "mail a@example.com i=QID1",
		"rcpt b@example.org", "header From: a@example.com", "header Subject: hi", "eoh", "body hello\r\n", "eom i=QID1"}
	if calls := log.get(); !reflect.DeepEqual(calls, wantCalls) {
		t.Errorf("calls:%s\nwant:%s", lines(calls), lines(wantCalls))
	}
}

func TestEmersionVerdicts(t *testing.T) {
	custom, _ := emilter.NewResponseStr(milter.RespReplyCode, "550 5.7.1 not you"), error(nil)
	tests := []struct {
		stage string
		resp  emilter.Response
		at    filter.Stage
		want  filter.Verdict
	}{
		{"connect", emilter.RespTempFail, filter.StageConnect, filter.TempFail},
		{"helo", emilter.RespAccept, filter.StageHelo, filter.Accept},
		{"mail", custom, filter.StageMail, filter.CustomReply(550, "5.7.1", "not you")},
		{"rcpt", emilter.RespReject, filter.StageRcpt, filter.Reject},
		{"header", emilter.RespDiscard, filter.StageHeader, filter.Discard},
		{"eoh", emilter.RespReject, filter.StageEndOfHeaders, filter.Reject},
		{"body", emilter.RespTempFail, filter.StageEndOfMessage, filter.TempFail}, // the body goes out at end of message
		{"eom", emilter.RespAccept, filter.StageEndOfMessage, filter.Accept},
	}
	for _, tt := range tests {
		t.Run(tt.stage, func(t *testing.T) {
			log := &callLog{}
			addr := serveEmersion(t, func() *emMilter {
				return &emMilter{log: log, verdicts: map[string]emilter.Response{tt.stage: tt.resp}}
			}, 0, 0)
			c := newClient(t, milterclient.Options{Address: addr})
			e := newEngine(t, c)
			defer e.close()
			for _, st := range e.steps(sampleMessage(), filter.NewModifier(filter.AllEdits, nil)) {
				got := st.run()
				if got == filter.Continue && st.stage != tt.at {
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

// The library's protocol flags are honoured: skipped stages are not sent.
func TestEmersionProtocolFlags(t *testing.T) {
	log := &callLog{}
	addr := serveEmersion(t, func() *emMilter { return &emMilter{log: log} }, 0,
		emilter.OptNoConnect|emilter.OptNoHelo|emilter.OptNoBody|emilter.OptNoEOH)
	var pl packetLog
	c := newClient(t, milterclient.Options{Address: addr, Trace: pl.trace})
	e := newEngine(t, c)
	e.connect(sampleMessage())
	o := e.transaction(sampleMessage())
	e.close()
	if o.verdict != filter.Continue || o.stage != filter.StageEndOfMessage {
		t.Fatalf("%v at %v (%v)", o.verdict, o.stage, e.sess.(*milterclient.Session).Err())
	}
	wantCalls := []string{"mail a@example.com i=QID1", "rcpt b@example.org", "header From: a@example.com",
		"header Subject: hi", "eom i=QID1"}
	if calls := log.get(); !reflect.DeepEqual(calls, wantCalls) {
		t.Errorf("calls:%s\nwant:%s", lines(calls), lines(wantCalls))
	}
	// Version 2: no SMFIC_DATA (nor its macros); skipped stages get their
	// macros only (HELO has none set here).
	wantSent := []string{"SMFIC_OPTNEG", "SMFIC_MACRO(C)", "SMFIC_MACRO(M)", "SMFIC_MAIL",
		"SMFIC_MACRO(R)", "SMFIC_RCPT", "SMFIC_HEADER", "SMFIC_HEADER", "SMFIC_MACRO(N)", "SMFIC_MACRO(E)",
		"SMFIC_BODYEOB", "SMFIC_QUIT"}
	wantReceived := []string{"SMFIC_OPTNEG", "SMFIR_CONTINUE", "SMFIR_CONTINUE", "SMFIR_CONTINUE", "SMFIR_CONTINUE", "SMFIR_CONTINUE"}
	if !reflect.DeepEqual(pl.sent, wantSent) || !reflect.DeepEqual(pl.received, wantReceived) {
		t.Errorf("sent %v\nwant %v\nreceived %v\nwant %v", pl.sent, wantSent, pl.received, wantReceived)
	}
}

// go-milter v0.5.0 announces SMFIP_NR_HDR but answers every header
// anyway. Postfix would read those answers as the replies to later
// commands; the client notices the stray replies and applies the default
// action. An answer to a no-reply step arrives before the real replies, so
// it is caught at the first check after the extra bytes have arrived:
// within the message here, or at the latest when the next one starts.
func TestEmersionRepliesToNoReplyHeaders(t *testing.T) {
	log := &callLog{}
	addr := serveEmersion(t, func() *emMilter { return &emMilter{log: log} }, 0, emilter.OptNoHeaderReply)
	logs := &logSink{}
	c := newClient(t, milterclient.Options{Name: "emersion", Address: addr, DefaultAction: milterclient.Reject, Logger: slog.New(logs)})
	e := newEngine(t, c)
	e.connect(sampleMessage())
	o := e.transaction(sampleMessage())
	if o.verdict == filter.Continue {
		time.Sleep(50 * time.Millisecond) // let the milter's extra replies arrive
		o = e.transaction(sampleMessage())
	}
	err := e.sess.(*milterclient.Session).Err()
	e.close()
	if want := filter.CustomReply(550, "5.7.1", "Command rejected"); !reflect.DeepEqual(o.verdict, want) {
		t.Errorf("verdict %v at %v, want %v", o.verdict, o.stage, want)
	}
	if err == nil || !strings.Contains(err.Error(), "reply nobody asked for") {
		t.Errorf("Err() = %v", err)
	}
	if warns := logs.at(slog.LevelWarn); len(warns) != 1 {
		t.Errorf("warnings:%s", lines(warns))
	}
}
