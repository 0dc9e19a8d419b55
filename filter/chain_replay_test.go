package filter_test

import (
	"context"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/filter"
)

// observer records the content it is given.
type observer struct {
	name    string
	needs   filter.Needs
	seen    *[]string
	verdict map[filter.Stage]filter.Verdict
}

func (o observer) Name() string        { return o.name }
func (o observer) Needs() filter.Needs { return o.needs }
func (o observer) NewSession(context.Context, filter.Macros) (filter.Session, error) {
	return &observerSession{o: o}, nil
}

type observerSession struct {
	filter.Base
	o observer
}

func (s *observerSession) Header(_ context.Context, n, v string) filter.Verdict {
	*s.o.seen = append(*s.o.seen, s.o.name+" header "+n+":"+v)
	return s.o.verdict[filter.StageHeader]
}
func (s *observerSession) Body(_ context.Context, b []byte) filter.Verdict {
	*s.o.seen = append(*s.o.seen, s.o.name+" body "+string(b))
	return filter.Continue
}
func (s *observerSession) EndOfMessage(context.Context, *filter.Modifier) filter.Verdict {
	*s.o.seen = append(*s.o.seen, s.o.name+" eom")
	return filter.Continue
}

// editor adds a header, changes the subject and replaces the body.
type editor struct{ seen *[]string }

func (editor) Needs() filter.Needs {
	return filter.Needs{Edits: filter.EditAddHeader | filter.EditChangeHeader | filter.EditReplaceBody}
}
func (e editor) NewSession(context.Context, filter.Macros) (filter.Session, error) {
	return &editorSession{seen: e.seen}, nil
}

type editorSession struct {
	filter.Base
	seen *[]string
}

func (s *editorSession) Header(_ context.Context, n, v string) filter.Verdict {
	*s.seen = append(*s.seen, "editor header "+n+":"+v)
	return filter.Continue
}

func (s *editorSession) EndOfMessage(_ context.Context, m *filter.Modifier) filter.Verdict {
	m.AddHeader("X-Edited", "yes")
	m.ChangeHeader("Subject", 1, "[tagged] hi")
	m.ReplaceBody(strings.NewReader("replaced\r\n"))
	*s.seen = append(*s.seen, "editor eom")
	return filter.Continue
}

func runMessage(t *testing.T, s filter.Session, mod *filter.Modifier) filter.Verdict {
	t.Helper()
	ctx := context.Background()
	s.Mail(ctx, envelope.Address{Addr: "a@b"})
	for _, h := range [][2]string{{"Subject", "hi"}, {"From", "a@b"}} {
		if v := s.Header(ctx, h[0], h[1]); v.Terminal() {
			return v
		}
	}
	s.EndOfHeaders(ctx)
	s.Body(ctx, []byte("original\r\n"))
	return s.EndOfMessage(ctx, mod)
}

func TestChainLaterMembersSeeEarlierEdits(t *testing.T) {
	var seen []string
	before := observer{name: "before", seen: &seen}
	after := observer{name: "after", seen: &seen}
	ch := filter.NewChainOptions(filter.ChainOptions{TempDir: t.TempDir()}, before, editor{seen: &seen}, after)
	s, err := ch.NewSession(context.Background(), filter.NoMacros)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	mod := filter.NewModifier(filter.AllEdits, nil)
	if v := runMessage(t, s, mod); v != filter.Continue {
		t.Fatalf("verdict %v", v)
	}
	want := []string{
		"before header Subject:hi", "editor header Subject:hi",
		"before header From:a@b", "editor header From:a@b",
		"before body original\r\n",
		"before eom", "editor eom",
		"after header Subject:[tagged] hi", "after header From:a@b", "after header X-Edited:yes",
		"after body replaced\r\n", "after eom",
	}
	if !reflect.DeepEqual(seen, want) {
		t.Errorf("seen\n%q\nwant\n%q", seen, want)
	}
	edits := mod.Edits()
	if len(edits) != 3 || edits[0].String() != "addheader X-Edited: yes" || edits[1].String() != "chgheader Subject[1]: [tagged] hi" || edits[2].Kind != filter.ReplaceBody {
		t.Fatalf("edits %v", edits)
	}
	body, _ := io.ReadAll(edits[2].Body)
	if string(body) != "replaced\r\n" {
		t.Errorf("replaced body %q", body)
	}
}

func TestChainReplayVerdictAndBounds(t *testing.T) {
	var seen []string
	rejecter := observer{name: "late", seen: &seen, verdict: map[filter.Stage]filter.Verdict{
		filter.StageHeader: filter.CustomReply(550, "5.7.1", "edited header refused")}}
	s, _ := filter.NewChainOptions(filter.ChainOptions{TempDir: t.TempDir()}, editor{seen: &seen}, rejecter).
		NewSession(context.Background(), filter.NoMacros)
	if v := runMessage(t, s, filter.NewModifier(filter.AllEdits, nil)); v.Reply == nil || v.Reply.String() != "550 5.7.1 edited header refused" {
		t.Errorf("verdict %v", v)
	}

	small := filter.NewChainOptions(filter.ChainOptions{TempDir: t.TempDir(), MaxHeaderBytes: 10}, editor{seen: &seen}, rejecter)
	s2, _ := small.NewSession(context.Background(), filter.NoMacros)
	v := runMessage(t, s2, filter.NewModifier(filter.AllEdits, nil))
	if v.Reply == nil || !strings.HasPrefix(v.Reply.String(), "552 5.3.4 Message too large for the filter chain: header section over 10 bytes") {
		t.Errorf("verdict %v", v)
	}
}

func TestChainAddsLeadingSpaceForMembersWithout(t *testing.T) {
	var seen []string
	wantsSpace := observer{name: "ls", seen: &seen, needs: filter.Needs{HeaderLeadingSpace: true}}
	s, _ := filter.NewChain(wantsSpace, editor{seen: &seen}).NewSession(context.Background(), filter.NoMacros)
	mod := filter.NewModifier(filter.AllEdits, nil)
	runMessage(t, s, mod)
	if got := mod.Edits()[0].Value; got != " yes" {
		t.Errorf("value passed on %q, want a leading space added", got)
	}
}

func TestApplyHeaderEdit(t *testing.T) {
	base := func() []filter.HeaderField {
		return []filter.HeaderField{{"Received", "1"}, {"Subject", "s"}, {"Received", "2"}, {"received", "3"}}
	}
	tests := []struct {
		edit filter.Edit
		want string
	}{
		{filter.Edit{Kind: filter.AddHeader, Name: "X", Value: "x"}, "Received:1 Subject:s Received:2 received:3 X:x"},
		{filter.Edit{Kind: filter.InsertHeader, Index: 0, Name: "X", Value: "x"}, "X:x Received:1 Subject:s Received:2 received:3"},
		{filter.Edit{Kind: filter.InsertHeader, Index: 2, Name: "X", Value: "x"}, "Received:1 Subject:s X:x Received:2 received:3"},
		{filter.Edit{Kind: filter.InsertHeader, Index: 99, Name: "X", Value: "x"}, "Received:1 Subject:s Received:2 received:3 X:x"},
		{filter.Edit{Kind: filter.ChangeHeader, Index: 3, Name: "RECEIVED", Value: "new"}, "Received:1 Subject:s Received:2 received:new"},
		{filter.Edit{Kind: filter.ChangeHeader, Index: 2, Name: "Subject", Value: "added"}, "Received:1 Subject:s Received:2 received:3 Subject:added"},
		{filter.Edit{Kind: filter.DeleteHeader, Index: 2, Name: "Received"}, "Received:1 Subject:s received:3"},
		{filter.Edit{Kind: filter.DeleteHeader, Index: 5, Name: "Received"}, "Received:1 Subject:s Received:2 received:3"},
		{filter.Edit{Kind: filter.Quarantine, Reason: "r"}, "Received:1 Subject:s Received:2 received:3"},
	}
	for _, tt := range tests {
		var parts []string
		for _, f := range filter.ApplyHeaderEdit(base(), tt.edit) {
			parts = append(parts, f.Name+":"+f.Value)
		}
		if got := strings.Join(parts, " "); got != tt.want {
			t.Errorf("%v: got %q, want %q", tt.edit, got, tt.want)
		}
	}
	// Postfix counts only the fields still there: deleting 1 then 1 removes two.
	f := base()
	f = filter.ApplyHeaderEdit(f, filter.Edit{Kind: filter.DeleteHeader, Index: 1, Name: "Received"})
	f = filter.ApplyHeaderEdit(f, filter.Edit{Kind: filter.DeleteHeader, Index: 1, Name: "Received"})
	if len(f) != 2 || f[1].Value != "3" {
		t.Errorf("sequential deletes: %v", f)
	}
}
