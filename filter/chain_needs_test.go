package filter_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/sluice-mta/sluice/filter"
)

type macroLists = map[filter.Stage][]string

func TestChainNeedsMacros(t *testing.T) {
	const (
		conn = filter.StageConnect
		mail = filter.StageMail
		rcpt = filter.StageRcpt
		eom  = filter.StageEndOfMessage
	)
	tests := []struct {
		name    string
		members []filter.Needs
		want    macroLists
	}{
		{"no members", nil, macroLists{}},
		{"one member reading none", []filter.Needs{{Macros: macroLists{}}}, macroLists{}},
		{"one member, any macro", []filter.Needs{{}}, nil},
		{"nil first absorbs", []filter.Needs{{}, {Macros: macroLists{conn: {"j"}}}}, nil},
		{"nil last absorbs", []filter.Needs{{Macros: macroLists{conn: {"j"}}}, {Macros: macroLists{}}, {}}, nil},
		{"union per stage", []filter.Needs{
			{Macros: macroLists{conn: {"j", "{client_addr}"}, mail: {"i"}}},
			{Macros: macroLists{conn: {"_"}, eom: {"i"}}},
		}, macroLists{conn: {"j", "{client_addr}", "_"}, mail: {"i"}, eom: {"i"}}},
		{"names compared without braces, first spelling kept", []filter.Needs{
			{Macros: macroLists{mail: {"mail_addr", "i"}}},
			{Macros: macroLists{mail: {"{mail_addr}", "{auth_authen}", "i"}}},
		}, macroLists{mail: {"mail_addr", "i", "{auth_authen}"}}},
		{"a stage asked for with no names stays, empty", []filter.Needs{
			{Macros: macroLists{mail: {}}},
			{Macros: macroLists{}},
		}, macroLists{mail: {}}},
		{"empty then names", []filter.Needs{
			{Macros: macroLists{mail: {}}},
			{Macros: macroLists{mail: {"i"}}},
		}, macroLists{mail: {"i"}}},
		{"rejected recipients add rcpt_mailer", []filter.Needs{
			{Macros: macroLists{}},
			{Macros: macroLists{rcpt: {"{rcpt_addr}"}}, RejectedRecipients: true},
		}, macroLists{rcpt: {"{rcpt_addr}", "{rcpt_mailer}"}}},
		{"rcpt_mailer not repeated", []filter.Needs{
			{Macros: macroLists{rcpt: {"rcpt_mailer"}}, RejectedRecipients: true},
		}, macroLists{rcpt: {"rcpt_mailer"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var members []filter.Filter
			for _, n := range tt.members {
				members = append(members, stub{name: "m", log: new([]string), needs: n})
			}
			got := filter.NewChain(members...).Needs().Macros
			if (got == nil) != (tt.want == nil) || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Macros = %#v, want %#v", got, tt.want)
			}
		})
	}
}

// The chain's lists are its own: merging never writes into a member's.
func TestChainNeedsMacrosDoNotAlias(t *testing.T) {
	aList := make([]string, 1, 4) // room to append in place
	aList[0] = "j"
	a := stub{name: "a", log: new([]string), needs: filter.Needs{Macros: macroLists{filter.StageConnect: aList}}}
	b := stub{name: "b", log: new([]string), needs: filter.Needs{Macros: macroLists{filter.StageConnect: {"_"}}}}
	n := filter.NewChain(a, b).Needs()
	if got := n.Macros[filter.StageConnect]; !reflect.DeepEqual(got, []string{"j", "_"}) {
		t.Fatalf("connect macros %q", got)
	}
	if got := aList[:2]; got[1] != "" {
		t.Errorf("member's list written: %q", got)
	}
}

type closer struct {
	stub
	closed *int
	err    error
}

func (c closer) Close() error { *c.closed++; return c.err }

func TestChainClose(t *testing.T) {
	var n1, n2, n3 int
	boom := errors.New("boom")
	inner := filter.NewChain(closer{stub: stub{name: "inner"}, closed: &n3})
	ch := filter.NewChain(
		closer{stub: stub{name: "a"}, closed: &n1},
		stub{name: "plain"},
		closer{stub: stub{name: "b"}, closed: &n2, err: boom},
		inner,
	)
	err := ch.Close()
	if !errors.Is(err, boom) || err.Error() != "b: boom" {
		t.Errorf("Close() = %v, want b: boom", err)
	}
	if n1 != 1 || n2 != 1 || n3 != 1 {
		t.Errorf("closed a %d, b %d, inner %d times; want once each", n1, n2, n3)
	}
	if err := filter.NewChain().Close(); err != nil {
		t.Errorf("empty chain Close() = %v", err)
	}
}
