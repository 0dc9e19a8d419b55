package milterclient_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/filter"
	"github.com/sluice-mta/sluice/milter"
	"github.com/sluice-mta/sluice/milterclient"
)

// pipeDialer hands the client one end of a net.Pipe whose other end
// discards what the client sends and answers with replies.
type pipeDialer struct {
	replies []byte
	wg      sync.WaitGroup
}

func (d *pipeDialer) DialContext(context.Context, string, string) (net.Conn, error) {
	client, server := net.Pipe()
	d.wg.Add(2)
	go func() {
		defer d.wg.Done()
		io.Copy(io.Discard, server)
	}()
	go func() {
		defer d.wg.Done()
		server.Write(d.replies)
		server.Close()
	}()
	return client, nil
}

// encode frames responses as a milter sends them.
func encode(resps ...milter.Response) []byte {
	var b bytes.Buffer
	w := milter.NewWriter(&b)
	for _, r := range resps {
		w.WritePacket(r.Encode())
	}
	w.Flush()
	return b.Bytes()
}

// FuzzMilterReplies feeds arbitrary bytes as everything a milter answers
// after negotiating every action: the session never panics or hangs,
// every verdict is well-formed, and every edit passed the Modifier's
// checks.
func FuzzMilterReplies(f *testing.F) {
	cont := milter.Continue{}
	for _, seed := range [][]milter.Response{
		{cont, cont, cont, cont, cont, cont, cont, cont, cont},
		{cont, cont, cont, milter.ReplyCode{Text: "550-5.7.1 a\r\n550 5.7.1 b"}},
		{cont, cont, cont, cont, cont, cont, cont, cont, milter.AddHeader{Name: "X", Value: "y"},
			milter.ChangeFrom{From: "<a@b>", Args: "RET=HDRS"}, milter.ReplaceBody{Chunk: []byte("new\r\n")},
			milter.Quarantine{Reason: "why"}, milter.Progress{}, milter.Accept{}},
		{cont, cont, milter.Skip{}, milter.Shutdown{}},
		{cont, cont, cont, cont, cont, cont, cont, cont, milter.InsertHeader{Index: 1, Name: "A", Value: "b"},
			milter.ChangeHeader{Index: 0, Name: "A"}, milter.AddRcptPar{Rcpt: "<c@d>", Args: "NOTIFY=NEVER"},
			milter.DelRcpt{Rcpt: "<e@f>"}, milter.AddRcpt{Rcpt: "g@h"}, milter.Discard{}},
	} {
		f.Add(encode(seed...))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d := &pipeDialer{replies: append(encode(milter.OptNeg{Version: 6, Actions: milter.ActAll, Protocol: milter.ProtoSkip}), data...)}
		c, err := milterclient.New(milterclient.Options{
			Address: "inet:1@fuzz.invalid", Dialer: d, Logger: quietLogger(),
			CommandTimeout: 2 * time.Second, EOMTimeout: 2 * time.Second, MaxReplacementBody: 1 << 20,
			TempDir: t.TempDir(), Breaker: milterclient.BreakerOptions{Failures: -1},
		})
		if err != nil {
			t.Fatal(err)
		}
		e := newEngine(t, c)
		mod := filter.NewModifier(filter.AllEdits, nil)
		for _, st := range e.steps(sampleMessage(), mod) {
			v := st.run()
			if v.Action > filter.ActionSkip {
				t.Fatalf("%v: verdict %v", st.stage, v)
			}
			if v.Reply != nil {
				if err := v.Reply.Validate(); err != nil {
					t.Fatalf("%v: verdict %v: %v", st.stage, v, err)
				}
			}
		}
		for _, ed := range mod.Edits() {
			if ed.Kind == filter.ReplaceBody {
				if _, err := io.ReadAll(ed.Body); err != nil {
					t.Fatalf("replaced body: %v", err)
				}
			}
		}
		e.close()
		d.wg.Wait()
	})
}
