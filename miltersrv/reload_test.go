package miltersrv

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/sluice-mta/sluice/filter"
	"github.com/sluice-mta/sluice/milter"
)

// tagger adds "X-Which: <tag>" at end of message and counts its Close
// calls (it is an io.Closer, as a filter holding resources would be).
type tagger struct {
	recorder
	closes atomic.Int32
}

func newTagger(tag string) *tagger {
	tg := &tagger{}
	tg.needs = filter.Needs{Edits: filter.EditAddHeader}
	tg.eom = func(_ context.Context, m *filter.Modifier) { m.AddHeader("X-Which", tag) }
	return tg
}

func (tg *tagger) Close() error {
	tg.closes.Add(1)
	return nil
}

// tagOf runs end of message on a negotiated connection and returns the
// X-Which value the filter added.
func tagOf(t *testing.T, m *mta) string {
	t.Helper()
	m.send(milter.EndOfBody{})
	resp := m.recv()
	h, ok := resp.(milter.AddHeader)
	if !ok || h.Name != "X-Which" {
		t.Fatalf("end of message answered %#v, want X-Which added", resp)
	}
	m.expect(milter.Continue{})
	return h.Value
}

// TestSetFilter: connections accepted after SetFilter get the new filter,
// open ones keep theirs; the replaced filter is closed once, when its last
// connection has ended, or at once when it has none.
func TestSetFilter(t *testing.T) {
	a, b, c := newTagger("a"), newTagger("b"), newTagger("c")
	srv, addr := serve(t, a, Options{})
	old := dialMTA(t, addr)
	old.negotiate(6, allActions, allProtocol)
	srv.SetFilter(b)
	if srv.Filter() != b {
		t.Fatalf("Filter() = %v after SetFilter(b)", srv.Filter())
	}
	cur := dialMTA(t, addr)
	cur.negotiate(6, allActions, allProtocol)
	if got := tagOf(t, cur); got != "b" {
		t.Errorf("new connection: X-Which %q, want b", got)
	}
	if got := tagOf(t, old); got != "a" {
		t.Errorf("connection opened before SetFilter: X-Which %q, want a", got)
	}
	if n := a.closes.Load(); n != 0 {
		t.Fatalf("the replaced filter was closed %d times while a connection used it", n)
	}
	old.send(milter.Quit{})
	old.expectClosed()
	waitFor(t, "the replaced filter closed", func() bool { return a.closes.Load() == 1 })

	cur.send(milter.Quit{})
	cur.expectClosed()
	waitFor(t, "no connection", func() bool { return srv.Connections() == 0 })
	srv.SetFilter(c) // b has no user: closed at once
	if n := b.closes.Load(); n != 1 {
		t.Errorf("unused replaced filter closed %d times, want 1", n)
	}
	if n := a.closes.Load() + c.closes.Load(); n != 1 {
		t.Errorf("closes of a and c = %d, want only a's 1", n)
	}
}

// TestSetOptions: a new connection limit and failure verdict apply to
// connections accepted afterwards.
func TestSetOptions(t *testing.T) {
	rec := &recorder{panics: true, panicAt: filter.StageHelo}
	srv, addr := serve(t, rec, Options{MaxConnections: 1})
	first := dialMTA(t, addr)
	first.negotiate(6, allActions, 0)
	refused := dialMTA(t, addr)
	refused.expectClosed()

	srv.SetOptions(Options{Logger: srv.opts.Load().Logger, MaxConnections: 2, FailureVerdict: filter.Reject})
	second := dialMTA(t, addr)
	second.negotiate(6, allActions, 0)
	second.send(milter.Helo{Name: "x"})
	second.expect(milter.Reject{})
	second.expectClosed()
	first.send(milter.Helo{Name: "x"})
	first.expect(milter.TempFail{}) // the options it was accepted with
	first.expectClosed()
}

// TestNegotiationCache: the cached reply is used only for the same offer.
func TestNegotiationCache(t *testing.T) {
	rec := &recorder{needs: filter.Needs{Edits: filter.EditAddHeader, Skip: filter.Stages(filter.StageHelo)}}
	_, addr := serve(t, rec, Options{})
	offers := []struct {
		proto milter.ProtoFlags
		want  milter.ProtoFlags
	}{
		{allProtocol, milter.ProtoNoHelo | milter.ProtoSkip},
		{allProtocol, milter.ProtoNoHelo | milter.ProtoSkip},
		{0, 0},
		{milter.ProtoNoHelo, milter.ProtoNoHelo},
		{allProtocol, milter.ProtoNoHelo | milter.ProtoSkip},
	}
	for i, o := range offers {
		m := dialMTA(t, addr)
		got := m.negotiate(6, allActions, o.proto)
		want := milter.OptNeg{Version: 6, Actions: milter.ActAddHeader, Protocol: o.want}
		if got.Version != want.Version || got.Actions != want.Actions || got.Protocol != want.Protocol {
			t.Errorf("offer %d (%v): negotiated %#v, want %#v", i, o.proto, got, want)
		}
	}
}
