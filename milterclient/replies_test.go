package milterclient_test

// Replies our milter server never sends, from a fake milter.

import (
	"context"
	"log/slog"
	"reflect"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/filter"
	"github.com/sluice-mta/sluice/milter"
	"github.com/sluice-mta/sluice/milterclient"
)

func TestFakeReplies(t *testing.T) {
	shutdown := filter.CustomReply(421, "4.7.0", "Server closing connection")
	tests := []struct {
		name  string
		proto milter.ProtoFlags
		at    byte              // the command answered with resp
		resp  []milter.Response // sent in one write
		stage filter.Stage
		want  filter.Verdict
		later filter.Verdict // later stages of the message (and connection for shutdown)
		warn  bool           // a warning is logged
	}{
		{name: "shutdown", at: milter.CmdRcpt, resp: []milter.Response{milter.Shutdown{}},
			stage: filter.StageRcpt, want: shutdown, later: shutdown},
		{name: "reply without enhanced code", at: milter.CmdMail, resp: []milter.Response{milter.ReplyCode{Text: "550 go away"}},
			stage: filter.StageMail, want: filter.CustomReply(550, "", "go away"), later: filter.CustomReply(550, "", "go away")},
		{name: "multi-line reply with %%", at: milter.CmdData, resp: []milter.Response{milter.ReplyCode{Text: "451-4.3.2 50%% full\r\n451-4.3.2\r\n451 4.3.2 later"}},
			stage: filter.StageData, want: filter.CustomReply(451, "4.3.2", "50% full", "", "later"), later: filter.CustomReply(451, "4.3.2", "50% full", "", "later")},
		{name: "421 reply code", at: milter.CmdHelo, resp: []milter.Response{milter.ReplyCode{Text: "421 4.3.0 going down"}},
			stage: filter.StageHelo, want: filter.CustomReply(421, "4.3.0", "going down"), later: filter.CustomReply(421, "4.3.0", "going down")},
		{name: "progress before the verdict", at: milter.CmdRcpt, resp: []milter.Response{milter.Progress{}, milter.Progress{}, milter.Reject{}},
			stage: filter.StageRcpt, want: filter.Reject, later: filter.Continue},
		{name: "discard at connect is ignored", at: milter.CmdConnect, resp: []milter.Response{milter.Discard{}},
			stage: filter.StageConnect, want: filter.Continue, later: filter.Continue, warn: true},
		{name: "skip a header", proto: milter.ProtoSkip, at: milter.CmdHeader, resp: []milter.Response{milter.Skip{}},
			stage: filter.StageHeader, want: filter.Continue, later: filter.Continue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := startFake(t, func(c *fakeConn, _ int) {
				c.negotiate(0, tt.proto)
				c.serveUntil(tt.at)
				c.send(tt.resp...)
				c.serveUntil(0)
			})
			logs := &logSink{}
			c := newClient(t, milterclient.Options{Address: fake.addr(), Logger: slog.New(logs)})
			e := newEngine(t, c)
			reached := false
			for _, st := range e.steps(sampleMessage(), filter.NewModifier(filter.AllEdits, nil)) {
				got := st.run()
				switch {
				case !reached && st.stage == tt.stage:
					reached = true
					if !reflect.DeepEqual(got, tt.want) {
						t.Fatalf("%v = %v, want %v", st.stage, got, tt.want)
					}
				case reached && !reflect.DeepEqual(got, tt.later):
					t.Fatalf("later %v = %v, want %v", st.stage, got, tt.later)
				}
			}
			if err := e.sess.(*milterclient.Session).Err(); err != nil {
				t.Errorf("Err() = %v, want nil: these are not failures", err)
			}
			e.close()
			if warns := logs.at(slog.LevelWarn); len(warns) != map[bool]int{false: 0, true: 1}[tt.warn] {
				t.Errorf("warnings:%s", lines(warns))
			}
		})
	}
}

// SMFIR_PROGRESS restarts the end-of-message timer and is passed on;
// edits sent before it count.
func TestProgressKeepsEndOfMessageAlive(t *testing.T) {
	const timeout = 500 * time.Millisecond
	fake := startFake(t, func(c *fakeConn, _ int) {
		c.negotiate(milter.ActAddHeader, 0)
		c.serveUntil(milter.CmdEndOfBody)
		c.send(milter.AddHeader{Name: "X-Slow", Value: "yes"})
		for range 4 {
			time.Sleep(timeout / 3)
			c.send(milter.Progress{})
		}
		c.send(milter.Continue{})
		c.serveUntil(0)
	})
	c := newClient(t, milterclient.Options{Address: fake.addr(), EOMTimeout: timeout})
	e := newEngine(t, c)
	defer e.close()
	e.connect(sampleMessage())
	for _, st := range e.steps(sampleMessage(), nil)[2:] {
		if st.stage == filter.StageEndOfMessage {
			break
		}
		st.run()
	}
	progress := 0
	mod := filter.NewModifier(filter.AllEdits, func(context.Context) error { progress++; return nil })
	start := time.Now()
	if v := e.sess.EndOfMessage(e.ctx, mod); v != filter.Continue {
		t.Fatalf("eom = %v (%v)", v, e.sess.(*milterclient.Session).Err())
	}
	if took := time.Since(start); took < timeout {
		t.Errorf("eom took %v, shorter than the milter's work", took)
	}
	if progress != 4 {
		t.Errorf("%d progress calls, want 4", progress)
	}
	want := []filter.Edit{{Kind: filter.AddHeader, Name: "X-Slow", Value: " yes"}}
	if !reflect.DeepEqual(mod.Edits(), want) {
		t.Errorf("edits %v, want %v", mod.Edits(), want)
	}
}

// A cancelled context cuts a wait short; the default action applies and
// the log says so at info level (it is not the milter's fault).
func TestContextCancel(t *testing.T) {
	fake := startFake(t, func(c *fakeConn, _ int) {
		c.negotiate(0, 0)
		c.serveUntil(milter.CmdMail)
		c.drain()
	})
	logs := &logSink{}
	c := newClient(t, milterclient.Options{Address: fake.addr(), Logger: slog.New(logs)})
	sess, err := c.NewSession(context.Background(), filter.MacroMap{})
	must(t, err)
	defer sess.Close(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	v := sess.Mail(ctx, envelope.Address{Addr: "a@example.com"})
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Mail took %v after the context ended", took)
	}
	if want := filter.CustomReply(451, "4.7.1", "Service unavailable - try again later"); !reflect.DeepEqual(v, want) {
		t.Errorf("Mail = %v, want %v", v, want)
	}
	if warns := logs.at(slog.LevelWarn); len(warns) != 0 {
		t.Errorf("warnings:%s", lines(warns))
	}
	if infos := logs.at(slog.LevelInfo); len(infos) != 1 {
		t.Errorf("info records:%s", lines(infos))
	}
}
