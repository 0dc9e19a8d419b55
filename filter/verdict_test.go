package filter_test

import (
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/filter"
)

func TestReplyValidateAndString(t *testing.T) {
	tests := []struct {
		reply filter.Reply
		err   string
		text  string
	}{
		{filter.Reply{Code: 550, Enhanced: "5.7.1", Lines: []string{"go away"}}, "", "550 5.7.1 go away"},
		{filter.Reply{Code: 451, Lines: []string{"a", "b"}}, "", "451-a\r\n451 b"},
		{filter.Reply{Code: 250}, "not 4xx or 5xx", ""},
		{filter.Reply{Code: 550, Enhanced: "4.7.1"}, "does not match reply class", ""},
		{filter.Reply{Code: 550, Enhanced: "5.7"}, "class.subject.detail", ""},
		{filter.Reply{Code: 550, Enhanced: "5.x.1"}, "malformed", ""},
		{filter.Reply{Code: 550, Lines: []string{"a\r\nMAIL FROM:<x>"}}, "CR, LF or NUL", ""},
	}
	for _, tt := range tests {
		err := tt.reply.Validate()
		if tt.err == "" {
			if err != nil {
				t.Errorf("%+v: %v", tt.reply, err)
			}
			if got := tt.reply.String(); got != tt.text {
				t.Errorf("%+v: String = %q, want %q", tt.reply, got, tt.text)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("%+v: error %v, want %q", tt.reply, err, tt.err)
		}
	}
}

func TestCustomReplyAction(t *testing.T) {
	if v := filter.CustomReply(421, "4.3.0", "busy"); v.Action != filter.ActionTempFail || !v.Terminal() {
		t.Errorf("4xx: %v", v)
	}
	if v := filter.CustomReply(554, "5.7.1", "no"); v.Action != filter.ActionReject {
		t.Errorf("5xx: %v", v)
	}
	if filter.Continue.Terminal() || filter.Accept.Terminal() || !filter.Discard.Terminal() {
		t.Error("Terminal is wrong")
	}
}

func TestModifierRefusesMalformedEdits(t *testing.T) {
	m := filter.NewModifier(filter.AllEdits, nil)
	bad := []error{
		m.AddHeader("Bad Name", "v"),
		m.AddHeader("X", "nul\x00"),
		m.InsertHeader(-1, "X", "v"),
		m.ChangeHeader("X", 0, "v"),
		m.DeleteHeader("X", 0),
		m.Quarantine(""),
		m.Quarantine("a\nb"),
		m.ReplaceBody(nil),
	}
	for i, err := range bad {
		if err == nil {
			t.Errorf("case %d: no error", i)
		}
	}
	if len(m.Edits()) != 0 {
		t.Errorf("recorded %v", m.Edits())
	}
	if err := m.ChangeHeader("Subject", 1, ""); err != nil || m.Edits()[0].Kind != filter.DeleteHeader {
		t.Errorf("empty change is a delete: %v %v", err, m.Edits())
	}
}
