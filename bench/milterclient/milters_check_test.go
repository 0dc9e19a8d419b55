//go:build linux

package milterclientbench

import (
	"context"
	"reflect"
	"sync"
	"testing"

	"github.com/sluice-mta/sluice/filter"
	"github.com/sluice-mta/sluice/milter"
	"github.com/sluice-mta/sluice/milterclient"
)

// What bench/milter/addheader.c asks for: every stage skipped but end of
// message (SMFIP_NO*), and no reply to any stage it would get (SMFIP_NR_*,
// moot for skipped stages).
const addheaderProtocol = milter.ProtoNoSendMask | milter.ProtoNoReplyMask

// Every milter under test answers each message, on a new SMTP connection
// or a reused one, with exactly its one header edit; the C milter and
// sluice's headers filter negotiate the same stages, so the client sends
// both the same packets; the body milter gets every body byte.
func TestMilters(t *testing.T) {
	addheader := addheaderBuilder(t.TempDir())
	for _, kind := range []string{kindLibmilter, kindMiltersrv, kindBody} {
		for _, socket := range []string{"unix", "inet"} {
			t.Run(kind+"/"+socket, func(t *testing.T) {
				p := startMilter(t, kind, socket, func() string { return addheader(t) })
				checkMilter(t, p)
			})
		}
	}
}

func checkMilter(t *testing.T, p *milterProc) {
	var mu sync.Mutex
	bodyBytes := 0
	c := newClient(t, p.addr, func(tr milterclient.Trace) {
		if b, ok := tr.Command.(milter.Body); ok {
			mu.Lock()
			bodyBytes += len(b.Chunk)
			mu.Unlock()
		}
	})
	msg := newMessage(200 << 10)
	for _, reuse := range []bool{false, true} {
		d := &driver{m: c, msg: msg, reuse: reuse, macros: newMacros()}
		for i := range 3 {
			if err := d.send(context.Background()); err != nil {
				t.Fatalf("reuse=%v message %d: %v", reuse, i+1, err)
			}
		}
		neg, _ := d.s.Negotiated()
		d.close()
		wantSkip := milter.ProtoNoSendMask
		if p.kind == kindBody {
			wantSkip &^= milter.ProtoNoBody
		}
		if got := neg.Protocol & milter.ProtoNoSendMask; got != wantSkip {
			t.Errorf("negotiated stages to skip %v, want %v", got, wantSkip)
		}
		if p.kind == kindLibmilter && neg.Protocol != addheaderProtocol {
			t.Errorf("negotiated protocol %v, want %v", neg.Protocol, addheaderProtocol)
		}
		if !reflect.DeepEqual(neg.Macros, map[filter.Stage][]string(nil)) || neg.Actions != milter.ActAddHeader {
			t.Errorf("negotiated actions %v, macros %v; want ADDHDRS and none", neg.Actions, neg.Macros)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if want := map[bool]int{true: 6 * msg.size}[p.kind == kindBody]; bodyBytes != want {
		t.Errorf("%d body bytes sent, want %d", bodyBytes, want)
	}
}
