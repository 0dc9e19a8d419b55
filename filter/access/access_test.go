package access

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/filter"
)

// TestNewErrors checks the RuleError of each bad rule, placed second
// (Index 1) after a good one. The cases marked "config" are the access
// rule checks package config made before the filter became their one
// judge; cmd/sluice's TestCheckConfigAccessRules checks the same cases
// as check-config prints them.
func TestNewErrors(t *testing.T) {
	ok := Rule{Client: "192.0.2.1", Action: "reject"}
	c, rej := "192.0.2.1", "reject"
	tests := []struct {
		name string
		rule Rule
		key  string
		msg  string
	}{
		{"no key", Rule{Action: rej}, "", "want exactly one of client, helo, sender, recipient; got 0"},
		{"two keys", Rule{Helo: "a.example", Sender: "b.example", Action: rej}, "", "want exactly one of client, helo, sender, recipient; got 2"},
		{"blank key", Rule{Recipient: "  ", Action: rej}, "recipient", `pattern "  " contains a space or control character`},
		{"padded key", Rule{Client: " 192.0.2.1", Action: rej}, "client", `pattern " 192.0.2.1" contains a space or control character`},
		{"helo at domain", Rule{Helo: "@example.com", Action: rej}, "helo", `want a name or /regex/, got "@example.com"`},
		{"reply text line", Rule{Sender: "<>", Action: rej, Reply: "550 5.7.1 one\nsee https://example.com/"}, "reply", `reply "550 5.7.1 one\nsee https://example.com/": want a 5xx code`},
		{"reply hyphen", Rule{Sender: "<>", Action: "tempfail", Reply: "451-4.3.0 one\n451 4.3.0 two"}, "reply", `reply "451-4.3.0 one\n451 4.3.0 two": line 1: want "451 text", without the hyphen (a multi-line reply gets its hyphens when sent)`},
		{"reply trailing newline", Rule{Sender: "<>", Action: rej, Reply: "550 5.7.1 one\n"}, "reply", `reply "550 5.7.1 one\n": want a 5xx code`},
		{"no action", Rule{Sender: "<>"}, "action", "missing (want reject, tempfail, discard, quarantine, accept)"},
		{"bad action", Rule{Sender: "<>", Action: "bounce"}, "action", `unknown action "bounce" (want reject, tempfail, discard, quarantine, accept)`},
		{"reply on accept", Rule{Sender: "<>", Action: "accept", Reply: "550 no"}, "reply", `only for actions "reject" and "tempfail" (action is "accept")`},
		{"reply on quarantine", Rule{Sender: "<>", Action: "Quarantine", Reply: "550 no"}, "reply", `only for actions "reject" and "tempfail" (action is "quarantine")`},
		{"reply class", Rule{Sender: "<>", Action: rej, Reply: "450 4.7.1 later"}, "reply", `reply "450 4.7.1 later": want a 5xx code`},
		{"reply enhanced tempfail", Rule{Sender: "<>", Action: "tempfail", Reply: "451 5.7.1 later"}, "reply", `reply "451 5.7.1 later": enhanced code 5.7.1 does not match class 4`},
		{"reply NUL", Rule{Sender: "<>", Action: rej, Reply: "550 a\x00b"}, "reply", `reply "550 a\x00b" contains CR or NUL (separate lines with "\n")`},
		{"reply bad line", Rule{Sender: "<>", Action: rej, Reply: "550 5.7.1 one\n551 two"}, "reply", `reply "550 5.7.1 one\n551 two": line 2: code 551 differs from the first line's 550`},
		{"blank reason", Rule{Sender: "<>", Action: "quarantine", Reason: " "}, "reason", "blank (leave it out for the default reason)"},
		{"reason with newline", Rule{Sender: "<>", Action: "quarantine", Reason: "a\nb"}, "reason", `"a\nb" contains control character '\n'`},
		{"long reason", Rule{Sender: "<>", Action: "quarantine", Reason: strings.Repeat("x", 2049)}, "reason", "too long: 2049 bytes, over 2048"},
		{"bad local part", Rule{Sender: "<a@example.com>", Action: rej}, "sender", `pattern "<a@example.com>": local part "<a": character '<' not allowed`},
		{"regex control", Rule{Helo: "/a\tb/", Action: rej}, "helo", `bad regex "/a\tb/": control character '\t'`},

		{"config: client", Rule{Client: "192.0.2.0/40", Action: rej}, "client", `want an address, a CIDR or /regex/, got "192.0.2.0/40"`},
		{"config: regex", Rule{Sender: "/[a/", Action: rej}, "sender", "bad regex /[a/: error parsing regexp: missing closing ]: `[a`"},
		{"config: helo space", Rule{Helo: "two words", Action: rej}, "helo", `pattern "two words" contains a space or control character`},
		{"config: helo address", Rule{Helo: "user@example.org", Action: rej}, "helo", `want a name or /regex/, got "user@example.org"`},
		{"config: null recipient", Rule{Recipient: "<>", Action: rej}, "recipient", "<> (the null sender) is only for sender rules"},
		{"config: client host bits", Rule{Client: "192.0.2.1/24", Action: rej}, "client", "network 192.0.2.1/24 has host bits set (did you mean 192.0.2.0/24?)"},
		{"config: reply second line", Rule{Client: c, Action: rej, Reply: "550 5.7.1 no\n450 later"}, "reply", `reply "550 5.7.1 no\n450 later": want a 5xx code`},
		{"config: reply CR", Rule{Client: c, Action: rej, Reply: "550 no\r\n550 no"}, "reply", `reply "550 no\r\n550 no" contains CR or NUL (separate lines with "\n")`},
		{"config: reply on discard", Rule{Client: c, Action: "discard", Reply: "550 no"}, "reply", `only for actions "reject" and "tempfail" (action is "discard")`},
		{"config: reply class", Rule{Client: c, Action: "tempfail", Reply: "550 5.7.1 no"}, "reply", `reply "550 5.7.1 no": want a 4xx code`},
		{"config: reply enhanced", Rule{Client: c, Action: rej, Reply: "554 4.7.1 no"}, "reply", `reply "554 4.7.1 no": enhanced code 4.7.1 does not match class 5`},
		{"config: reply code", Rule{Client: c, Action: rej, Reply: "5x0 no"}, "reply", `reply "5x0 no": want a 5xx code`},
		{"config: reason", Rule{Client: c, Action: rej, Reason: "why"}, "reason", `only for action "quarantine" (action is "reject")`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := New(Options{Rules: []Rule{ok, tt.rule}})
			var re *RuleError
			if !errors.As(err, &re) {
				t.Fatalf("New = %v, %v; want a *RuleError", f, err)
			}
			if re.Index != 1 || re.Key != tt.key || re.Err.Error() != tt.msg {
				t.Errorf("RuleError{%d, %q, %q}, want {1, %q, %q}", re.Index, re.Key, re.Err, tt.key, tt.msg)
			}
			where := "rules[1]"
			if tt.key != "" {
				where += "." + tt.key
			}
			if want := "filter/access: " + where + ": " + tt.msg; err.Error() != want {
				t.Errorf("Error() = %q, want %q", err.Error(), want)
			}
		})
	}
}

// TestNewErrorsAll: New reports every problem of every rule, in order,
// each a *RuleError; a rule without a valid action has its reply and
// reason left unjudged.
func TestNewErrorsAll(t *testing.T) {
	_, err := New(Options{Rules: []Rule{
		{Client: "192.0.2.1/24", Action: "reject", Reply: "450 later", Reason: "why"},
		{Helo: "ok.example", Action: "accept"},
		{Sender: "a@", Recipient: "b@", Action: "bounce", Reply: "x"},
	}})
	want := []RuleError{
		{0, "client", errors.New("network 192.0.2.1/24 has host bits set (did you mean 192.0.2.0/24?)")},
		{0, "reason", errors.New(`only for action "quarantine" (action is "reject")`)},
		{0, "reply", errors.New(`reply "450 later": want a 5xx code`)},
		{2, "", errors.New("want exactly one of client, helo, sender, recipient; got 2")},
		{2, "action", errors.New(`unknown action "bounce" (want reject, tempfail, discard, quarantine, accept)`)},
	}
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("New error = %v, want several joined", err)
	}
	got := joined.Unwrap()
	if len(got) != len(want) {
		t.Fatalf("New error =\n%v\nwant %d errors", err, len(want))
	}
	for i, e := range got {
		re, ok := e.(*RuleError)
		if !ok || re.Index != want[i].Index || re.Key != want[i].Key || re.Err.Error() != want[i].Err.Error() {
			t.Errorf("error %d = %#v, want %v", i, e, want[i])
		}
	}
	if !errors.Is(err, got[0].(*RuleError).Err) {
		t.Error("errors.Is does not reach a RuleError's Err")
	}
}

func TestNewAccepts(t *testing.T) {
	rules := []Rule{
		{Client: "192.0.2.0/24", Action: "REJECT", Reply: "554 5.7.1 Your network is blocked\n554 see https://example.com/"},
		{Helo: ".example.com", Action: " Tempfail "},
		{Sender: "<>", Action: "discard"},
		{Recipient: "/^spamtrap@/", Action: "quarantine", Reason: "spam trap"},
		{Client: "::1", Action: "accept"},
	}
	f, err := New(Options{Rules: rules})
	if err != nil {
		t.Fatal(err)
	}
	if f.Name() != "access" {
		t.Errorf("Name = %q", f.Name())
	}
	if _, err := New(Options{}); err != nil {
		t.Errorf("New with no rules: %v", err)
	}
}

func TestNeeds(t *testing.T) {
	all := filter.AllStages
	none := map[filter.Stage][]string{} // reads no macro
	st := filter.Stages
	const (
		conn = filter.StageConnect
		helo = filter.StageHelo
		mail = filter.StageMail
		rcpt = filter.StageRcpt
		eom  = filter.StageEndOfMessage
	)
	tests := []struct {
		name  string
		rules []Rule
		want  filter.Needs
	}{
		{"none", nil, filter.Needs{Macros: none, Skip: all}},
		{"client reject", []Rule{{Client: "192.0.2.1", Action: "reject"}},
			filter.Needs{Macros: none, Skip: all &^ st(conn)}},
		{"helo and recipient", []Rule{{Helo: "x.example", Action: "tempfail"}, {Recipient: "a@b.example", Action: "accept"}},
			filter.Needs{Macros: none, Skip: all &^ st(helo, rcpt)}},
		{"sender quarantine only", []Rule{{Sender: "<>", Action: "quarantine"}},
			filter.Needs{Macros: none, Skip: all &^ st(mail, eom), NoReply: st(mail), Edits: filter.EditQuarantine}},
		{"sender quarantine and reject", []Rule{{Sender: "<>", Action: "quarantine"}, {Sender: "a.example", Action: "reject"}},
			filter.Needs{Macros: none, Skip: all &^ st(mail, eom), Edits: filter.EditQuarantine}},
		{"client quarantine", []Rule{{Client: "/x/", Action: "quarantine"}},
			filter.Needs{Macros: none, Skip: all &^ st(conn, eom), NoReply: st(conn), Edits: filter.EditQuarantine}},
		{"client discard", []Rule{{Client: "192.0.2.0/24", Action: "discard"}},
			filter.Needs{Macros: none, Skip: all &^ st(conn, mail), NoReply: st(conn)}},
		{"helo discard and sender accept", []Rule{{Helo: "x.example", Action: "discard"}, {Sender: "<>", Action: "accept"}},
			filter.Needs{Macros: none, Skip: all &^ st(helo, mail), NoReply: st(helo)}},
		{"recipient discard", []Rule{{Recipient: "x.example", Action: "discard"}},
			filter.Needs{Macros: none, Skip: all &^ st(rcpt)}},
	}
	for _, tt := range tests {
		f, err := New(Options{Rules: tt.rules})
		if err != nil {
			t.Fatal(err)
		}
		if got := f.Needs(); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: Needs = %+v, want %+v", tt.name, got, tt.want)
		}
	}
}
