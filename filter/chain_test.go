package filter_test

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/filter"
)

// stub is a filter whose session answers from a table and logs calls.
type stub struct {
	name     string
	needs    filter.Needs
	verdicts map[filter.Stage]filter.Verdict
	log      *[]string
	edit     func(*filter.Modifier) error
}

func (s stub) Name() string        { return s.name }
func (s stub) Needs() filter.Needs { return s.needs }
func (s stub) NewSession(context.Context, filter.Macros) (filter.Session, error) {
	return &stubSession{s: s}, nil
}

type stubSession struct {
	filter.Base
	s stub
}

func (ss *stubSession) note(st filter.Stage, extra string) filter.Verdict {
	*ss.s.log = append(*ss.s.log, ss.s.name+":"+st.String()+extra)
	return ss.s.verdicts[st]
}

func (ss *stubSession) Connect(context.Context, *envelope.Conn) filter.Verdict {
	return ss.note(filter.StageConnect, "")
}
func (ss *stubSession) Mail(context.Context, envelope.Address) filter.Verdict {
	return ss.note(filter.StageMail, "")
}
func (ss *stubSession) Rcpt(_ context.Context, a envelope.Address) filter.Verdict {
	return ss.note(filter.StageRcpt, " "+a.Addr)
}
func (ss *stubSession) Header(_ context.Context, n, v string) filter.Verdict {
	return ss.note(filter.StageHeader, " "+n+":"+v)
}
func (ss *stubSession) Body(context.Context, []byte) filter.Verdict {
	return ss.note(filter.StageBody, "")
}
func (ss *stubSession) EndOfMessage(_ context.Context, m *filter.Modifier) filter.Verdict {
	if ss.s.edit != nil {
		if err := ss.s.edit(m); err != nil {
			*ss.s.log = append(*ss.s.log, ss.s.name+":edit error "+err.Error())
		}
	}
	return ss.note(filter.StageEndOfMessage, "")
}
func (ss *stubSession) Abort(context.Context) { *ss.s.log = append(*ss.s.log, ss.s.name+":abort") }

func TestChainStopsAtTerminalVerdict(t *testing.T) {
	var log []string
	a := stub{name: "a", log: &log}
	b := stub{name: "b", log: &log, verdicts: map[filter.Stage]filter.Verdict{filter.StageRcpt: filter.CustomReply(550, "5.1.1", "unknown")}}
	c := stub{name: "c", log: &log}
	ch := filter.NewChain(a, b, c)
	s, err := ch.NewSession(context.Background(), filter.NoMacros)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if v := s.Mail(ctx, envelope.Address{Addr: "x@y"}); v != filter.Continue {
		t.Errorf("mail verdict %v", v)
	}
	v := s.Rcpt(ctx, envelope.Address{Addr: "r@y"})
	if v.Action != filter.ActionReject || v.Reply.String() != "550 5.1.1 unknown" {
		t.Errorf("rcpt verdict %v", v)
	}
	want := []string{"a:mail", "b:mail", "c:mail", "a:rcpt r@y", "b:rcpt r@y"}
	if !reflect.DeepEqual(log, want) {
		t.Errorf("calls %q, want %q", log, want)
	}
}

func TestChainAcceptScopes(t *testing.T) {
	var log []string
	a := stub{name: "a", log: &log, verdicts: map[filter.Stage]filter.Verdict{filter.StageMail: filter.Accept}}
	b := stub{name: "b", log: &log, verdicts: map[filter.Stage]filter.Verdict{filter.StageConnect: filter.Accept}}
	s, _ := filter.NewChain(a, b).NewSession(context.Background(), filter.NoMacros)
	ctx := context.Background()
	if v := s.Connect(ctx, &envelope.Conn{}); v != filter.Continue {
		t.Errorf("connect %v", v)
	}
	// a accepts the message: every member is done, so the chain accepts.
	if v := s.Mail(ctx, envelope.Address{}); v != filter.Accept {
		t.Errorf("mail %v, want accept", v)
	}
	s.Rcpt(ctx, envelope.Address{Addr: "r"})
	s.EndOfMessage(ctx, filter.NewModifier(0, nil))
	// Next message: a is called again, b (accepted the connection) is not.
	s.Mail(ctx, envelope.Address{})
	s.Abort(ctx)
	want := []string{"a:connect", "b:connect", "a:mail", "a:mail", "a:abort"}
	if !reflect.DeepEqual(log, want) {
		t.Errorf("calls %q, want %q", log, want)
	}
}

func TestChainNeedsUnion(t *testing.T) {
	var log []string
	a := stub{name: "a", log: &log, needs: filter.Needs{
		Skip: filter.Stages(filter.StageHelo, filter.StageBody), NoReply: filter.Stages(filter.StageHeader),
		Edits: filter.EditAddHeader, Macros: map[filter.Stage][]string{filter.StageMail: {"{auth_authen}"}},
	}}
	b := stub{name: "b", log: &log, needs: filter.Needs{
		Skip: filter.Stages(filter.StageHelo), NoReply: filter.Stages(filter.StageHeader, filter.StageBody),
		Edits: filter.EditQuarantine, HeaderLeadingSpace: true,
	}}
	n := filter.NewChain(a, b).Needs()
	if n.Skip != filter.Stages(filter.StageHelo) || n.NoReply != filter.Stages(filter.StageHelo, filter.StageHeader, filter.StageBody) {
		t.Errorf("skip %v noreply %v", n.Skip, n.NoReply)
	}
	if n.Edits != filter.EditAddHeader|filter.EditQuarantine || !n.HeaderLeadingSpace {
		t.Errorf("edits %v leadspace %v", n.Edits, n.HeaderLeadingSpace)
	}
	// b may read any macro, so the chain may too.
	if n.Macros != nil {
		t.Errorf("macros %q, want nil", n.Macros)
	}
}

func TestChainServesEachMemberWhatItDeclared(t *testing.T) {
	var log []string
	a := stub{name: "a", log: &log, needs: filter.Needs{Skip: filter.Stages(filter.StageBody)}}
	b := stub{name: "b", log: &log, needs: filter.Needs{HeaderLeadingSpace: true, RejectedRecipients: true},
		verdicts: map[filter.Stage]filter.Verdict{filter.StageBody: filter.Skip}}
	macros := filter.MacroMap{}
	s, _ := filter.NewChain(a, b).NewSession(context.Background(), macros)
	ctx := context.Background()
	s.Header(ctx, "Subject", " hi")
	macros.Set("{rcpt_mailer}", "error")
	s.Rcpt(ctx, envelope.Address{Addr: "rejected@x"})
	if v := s.Body(ctx, []byte("x")); v != filter.Skip {
		t.Errorf("body verdict %v, want skip once every member skips", v)
	}
	s.Body(ctx, []byte("y"))
	want := []string{"a:header Subject:hi", "b:header Subject: hi", "b:rcpt rejected@x", "b:body"}
	if !reflect.DeepEqual(log, want) {
		t.Errorf("calls %q, want %q", log, want)
	}
}

func TestChainPassesEditsInOrderAndEnforcesDeclarations(t *testing.T) {
	var log []string
	a := stub{name: "a", log: &log, needs: filter.Needs{Edits: filter.EditAddHeader},
		edit: func(m *filter.Modifier) error { return m.AddHeader("X-A", "1") }}
	b := stub{name: "b", log: &log, needs: filter.Needs{Edits: filter.EditAddHeader},
		edit: func(m *filter.Modifier) error {
			if err := m.AddHeader("X-B", "2"); err != nil {
				return err
			}
			return m.Quarantine("not declared")
		}}
	s, _ := filter.NewChain(a, b).NewSession(context.Background(), filter.NoMacros)
	mod := filter.NewModifier(filter.AllEdits, nil)
	s.EndOfMessage(context.Background(), mod)
	var got []string
	for _, e := range mod.Edits() {
		got = append(got, e.String())
	}
	if !reflect.DeepEqual(got, []string{"addheader X-A: 1", "addheader X-B: 2"}) {
		t.Errorf("edits %q", got)
	}
	if !strings.Contains(strings.Join(log, "\n"), "b:edit error filter: edit not declared in Needs.Edits: quarantine") {
		t.Errorf("undeclared edit not refused: %q", log)
	}
}
