package milterclient_test

// Broken milters: each misbehaves on its first connection and behaves on
// the next. The client applies the default action from the failing stage
// on, logs the failure once, and the next session works.

import (
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/filter"
	"github.com/sluice-mta/sluice/milter"
	"github.com/sluice-mta/sluice/milterclient"
)

// brokenTimeout is the command and end-of-message timeout of the cases
// about timeouts; the others wait up to testTimeout.
const brokenTimeout = 500 * time.Millisecond

type brokenCase struct {
	name  string
	stage filter.Stage // where the failure shows
	log   filter.Stage // the stage logged, when not stage
	err   string       // in the logged error
	slow  bool         // the failure is a timeout: it takes brokenTimeout
	opts  func(*milterclient.Options)
	first func(c *fakeConn) // the first connection's script
}

var brokenCases = []brokenCase{
	{name: "stalls at RCPT", stage: filter.StageRcpt, err: "no reply to SMFIC_RCPT within 500ms", slow: true,
		first: func(c *fakeConn) {
			c.negotiate(0, 0)
			c.serveUntil(milter.CmdRcpt)
			c.drain()
		}},
	{name: "stalls at end of message", stage: filter.StageEndOfMessage, err: "no reply to SMFIC_BODYEOB within 500ms", slow: true,
		first: func(c *fakeConn) {
			c.negotiate(0, 0)
			c.serveUntil(milter.CmdEndOfBody)
			c.drain()
		}},
	{name: "closes mid-message", stage: filter.StageHeader, err: "closed the connection",
		first: func(c *fakeConn) {
			c.negotiate(0, 0)
			c.serveUntil(milter.CmdHeader)
			c.send(milter.Continue{})
		}},
	{name: "closes before the body", stage: filter.StageEndOfMessage, log: filter.StageBody, err: "closed the connection",
		first: func(c *fakeConn) {
			c.negotiate(0, 0)
			c.serveUntil(milter.CmdEndOfHeaders)
			c.send(milter.Continue{})
		}},
	{name: "oversized length", stage: filter.StageMail, err: "packet too large",
		first: func(c *fakeConn) {
			c.negotiate(0, 0)
			c.serveUntil(milter.CmdMail)
			c.raw([]byte{0x7f, 0xff, 0xff, 0xff, 'c'})
			c.drain()
		}},
	{name: "unknown reply code", stage: filter.StageHelo, err: "unknown reply in code 'Z'",
		first: func(c *fakeConn) {
			c.negotiate(0, 0)
			c.serveUntil(milter.CmdHelo)
			c.raw([]byte{0, 0, 0, 1, 'Z'})
			c.drain()
		}},
	{name: "replies to a no-reply step", stage: filter.StageEndOfMessage, log: filter.StageBody, err: "reply nobody asked for",
		first: func(c *fakeConn) {
			c.negotiate(0, milter.ProtoNRHeader)
			c.serveUntil(milter.CmdEndOfHeaders)         // headers get no reply...
			c.send(milter.Continue{}, milter.Continue{}) // ...but one comes with EOH's
			c.serveUntil(0)
		}},
	{name: "garbage at negotiation", stage: filter.StageConnect, err: "option negotiation",
		first: func(c *fakeConn) {
			c.read()
			c.raw([]byte("HTTP/1.0 400 Bad Request\r\n\r\n"))
			c.drain()
		}},
	{name: "wrong reply to negotiation", stage: filter.StageConnect, err: "unexpected SMFIR_CONTINUE in reply to SMFIC_OPTNEG",
		first: func(c *fakeConn) {
			c.read()
			c.send(milter.Continue{})
			c.drain()
		}},
	{name: "protocol version 1", stage: filter.StageConnect, err: "protocol version 1",
		first: func(c *fakeConn) {
			c.read()
			c.send(milter.OptNeg{Version: 1})
			c.drain()
		}},
	{name: "action not offered", stage: filter.StageConnect, err: "actions CHGBODY not offered",
		opts: func(o *milterclient.Options) { o.Actions = milter.ActAddHeader },
		first: func(c *fakeConn) {
			c.negotiate(milter.ActChangeBody, 0)
			c.drain()
		}},
	{name: "edit outside end of message", stage: filter.StageRcpt, err: "unexpected SMFIR_ADDHEADER in reply to SMFIC_RCPT",
		first: func(c *fakeConn) {
			c.negotiate(milter.ActAddHeader, 0)
			c.serveUntil(milter.CmdRcpt)
			c.send(milter.AddHeader{Name: "X", Value: "y"})
			c.drain()
		}},
	{name: "edit not negotiated", stage: filter.StageEndOfMessage, err: "SMFIR_ADDRCPT without negotiating ADDRCPT",
		first: func(c *fakeConn) {
			c.negotiate(milter.ActAddHeader, 0)
			c.serveUntil(milter.CmdEndOfBody)
			c.send(milter.AddHeader{Name: "X", Value: "y"}, milter.AddRcpt{Rcpt: "<x@example.org>"}, milter.Continue{})
			c.drain()
		}},
	{name: "closes after an edit", stage: filter.StageEndOfMessage, err: "closed the connection waiting for the reply to SMFIC_BODYEOB",
		first: func(c *fakeConn) {
			c.negotiate(milter.ActAddHeader, 0)
			c.serveUntil(milter.CmdEndOfBody)
			c.send(milter.AddHeader{Name: "X", Value: "y"})
		}},
	{name: "connection failure reply", stage: filter.StageMail, err: "unexpected SMFIR_CONN_FAIL",
		first: func(c *fakeConn) {
			c.negotiate(0, 0)
			c.serveUntil(milter.CmdMail)
			c.send(milter.ConnFail{})
			c.drain()
		}},
	{name: "malformed reply text", stage: filter.StageRcpt, err: "bad SMFIR_REPLYCODE",
		first: func(c *fakeConn) {
			c.negotiate(0, 0)
			c.serveUntil(milter.CmdRcpt)
			c.send(milter.ReplyCode{Text: "250 2.0.0 fine"})
			c.drain()
		}},
	{name: "endless progress", stage: filter.StageEndOfMessage, err: "of SMFIR_PROGRESS", slow: true,
		opts: func(o *milterclient.Options) { o.EOMTimeout = brokenTimeout / 4 },
		first: func(c *fakeConn) {
			c.negotiate(0, 0)
			c.serveUntil(milter.CmdEndOfBody)
			for i := 0; i < 1000 && c.send(milter.Progress{}) == nil; i++ {
				time.Sleep(10 * time.Millisecond)
			}
		}},
}

// fallbacks are the verdicts each default action gives.
var fallbacks = map[milterclient.Action]filter.Verdict{
	milterclient.TempFail:   filter.CustomReply(451, "4.7.1", "Service unavailable - try again later"),
	milterclient.Reject:     filter.CustomReply(550, "5.7.1", "Command rejected"),
	milterclient.Accept:     filter.Accept,
	milterclient.Quarantine: filter.Continue,
	milterclient.Shutdown:   filter.CustomReply(421, "4.7.0", "Server closing connection"),
}

func TestBrokenMilters(t *testing.T) {
	for _, bc := range brokenCases {
		t.Run(bc.name, func(t *testing.T) {
			t.Parallel()
			runBroken(t, bc, milterclient.TempFail)
		})
	}
}

// Every default action, on a milter that stalls and on one that closes.
func TestDefaultActions(t *testing.T) {
	for _, i := range []int{0, 2, 3} {
		bc := brokenCases[i]
		for _, action := range []milterclient.Action{milterclient.TempFail, milterclient.Reject,
			milterclient.Accept, milterclient.Quarantine, milterclient.Shutdown} {
			t.Run(bc.name+"/"+action.String(), func(t *testing.T) {
				t.Parallel()
				runBroken(t, bc, action)
			})
		}
	}
}

func runBroken(t *testing.T, bc brokenCase, action milterclient.Action) {
	fake := startFake(t, func(c *fakeConn, n int) {
		if n == 1 {
			bc.first(c)
			return
		}
		c.serve()
	})
	logs := &logSink{}
	opts := milterclient.Options{Name: "broken", Address: fake.addr(), DefaultAction: action, Logger: slog.New(logs)}
	if bc.slow {
		opts.CommandTimeout, opts.EOMTimeout = brokenTimeout, brokenTimeout
	}
	if bc.opts != nil {
		bc.opts(&opts)
	}
	c := newClient(t, opts)
	want := fallbacks[action]

	e := newEngine(t, c)
	mod := filter.NewModifier(filter.AllEdits, nil)
	failed := false
	for _, st := range e.steps(sampleMessage(), mod) {
		start := time.Now()
		got := st.run()
		took := time.Since(start)
		if !failed && e.sess.(*milterclient.Session).Err() == nil {
			if got != filter.Continue {
				t.Fatalf("%v = %v before the failure", st.stage, got)
			}
			continue
		}
		if !failed {
			failed = true
			if st.stage != bc.stage {
				t.Errorf("failed at %v, want %v", st.stage, bc.stage)
			}
			if bc.slow && (took < brokenTimeout/4 || took > brokenTimeout*12) {
				t.Errorf("failure took %v (timeout %v)", took, brokenTimeout)
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%v = %v, want %v", st.stage, got, want)
		}
	}
	if !failed {
		t.Fatal("the milter never failed")
	}
	e.close()
	checkEOMEdits(t, mod, action, bc)
	checkLoggedOnce(t, logs, bc)

	// The next session connects afresh and works.
	e = newEngine(t, c)
	e.connect(sampleMessage())
	if o := e.transaction(sampleMessage()); o.verdict != filter.Continue || o.stage != filter.StageEndOfMessage {
		t.Errorf("next session: %v at %v (%v)", o.verdict, o.stage, e.sess.(*milterclient.Session).Err())
	}
	e.close()
	if n := fake.connections(); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
}

// checkEOMEdits: no edit of a failed milter survives; a quarantine
// default action leaves exactly its own quarantine edit.
func checkEOMEdits(t *testing.T, mod *filter.Modifier, action milterclient.Action, bc brokenCase) {
	t.Helper()
	if bc.log == 0 {
		bc.log = bc.stage
	}
	edits := mod.Edits()
	if action != milterclient.Quarantine {
		if len(edits) != 0 {
			t.Errorf("edits %v, want none", edits)
		}
		return
	}
	prefix := "milter broken failed at " + bc.log.String() + ": "
	if len(edits) != 1 || edits[0].Kind != filter.Quarantine || !strings.HasPrefix(edits[0].Reason, prefix) ||
		!strings.Contains(edits[0].Reason, bc.err) {
		t.Errorf("edits %v, want one quarantine %q…%q", edits, prefix, bc.err)
	}
}

func checkLoggedOnce(t *testing.T, logs *logSink, bc brokenCase) {
	t.Helper()
	if bc.log == 0 {
		bc.log = bc.stage
	}
	warns := logs.at(slog.LevelWarn)
	if len(warns) != 1 {
		t.Fatalf("%d warnings, want 1:%s", len(warns), lines(warns))
	}
	for _, part := range []string{"milter=broken", "stage=" + bc.log.String(), bc.err} {
		if !strings.Contains(warns[0], part) {
			t.Errorf("warning %q lacks %q", warns[0], part)
		}
	}
}
