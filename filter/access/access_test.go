package access

import (
	"reflect"
	"testing"

	"github.com/sluice-mta/sluice/filter"
)

func TestNewErrors(t *testing.T) {
	ok := Rule{Client: "192.0.2.1", Action: "reject"}
	tests := []struct {
		name string
		rule Rule
		want string
	}{
		{"no key", Rule{Action: "reject"}, "filter/access: rule 2: no match key: set one of client, helo, sender, recipient"},
		{"two keys", Rule{Helo: "a.example", Sender: "b.example", Action: "reject"}, "filter/access: rule 2: more than one match key (helo, sender): set exactly one"},
		{"blank key", Rule{Recipient: "  ", Action: "reject"}, `filter/access: rule 2: recipient "  ": empty pattern`},
		{"bad pattern", Rule{Client: "192.0.2.1/24", Action: "reject"}, `filter/access: rule 2: client "192.0.2.1/24": network 192.0.2.1/24 has host bits set (did you mean 192.0.2.0/24?)`},
		{"no action", Rule{Sender: "<>"}, "filter/access: rule 2: no action (reject, tempfail, discard, quarantine or accept)"},
		{"bad action", Rule{Sender: "<>", Action: "bounce"}, `filter/access: rule 2: action "bounce" is not reject, tempfail, discard, quarantine or accept`},
		{"reply on accept", Rule{Sender: "<>", Action: "accept", Reply: "550 no"}, "filter/access: rule 2: reply is only for reject and tempfail, not accept"},
		{"reply on discard", Rule{Sender: "<>", Action: "discard", Reply: "550 no"}, "filter/access: rule 2: reply is only for reject and tempfail, not discard"},
		{"reply class", Rule{Sender: "<>", Action: "reject", Reply: "450 4.7.1 later"}, `filter/access: rule 2: reply "450 4.7.1 later": code 450 is not 5xx, as reject needs`},
		{"reply enhanced", Rule{Sender: "<>", Action: "tempfail", Reply: "451 5.7.1 later"}, `filter/access: rule 2: reply "451 5.7.1 later": enhanced status code 5.7.1 does not match reply code 451 (RFC 3463 §2)`},
		{"reason on reject", Rule{Sender: "<>", Action: "reject", Reason: "why"}, "filter/access: rule 2: reason is only for quarantine, not reject"},
		{"blank reason", Rule{Sender: "<>", Action: "quarantine", Reason: " "}, "filter/access: rule 2: reason is blank"},
		{"reason with newline", Rule{Sender: "<>", Action: "quarantine", Reason: "a\nb"}, `filter/access: rule 2: reason contains control character '\n'`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(Options{Rules: []Rule{ok, tt.rule}})
			if err == nil || err.Error() != tt.want {
				t.Fatalf("New error = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestNewAccepts(t *testing.T) {
	rules := []Rule{
		{Client: "192.0.2.0/24", Action: "REJECT", Reply: "554 5.7.1 Your network is blocked\nsee https://example.com/"},
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
		{"none", nil, filter.Needs{Skip: all}},
		{"client reject", []Rule{{Client: "192.0.2.1", Action: "reject"}},
			filter.Needs{Skip: all &^ st(conn)}},
		{"helo and recipient", []Rule{{Helo: "x.example", Action: "tempfail"}, {Recipient: "a@b.example", Action: "accept"}},
			filter.Needs{Skip: all &^ st(helo, rcpt)}},
		{"sender quarantine only", []Rule{{Sender: "<>", Action: "quarantine"}},
			filter.Needs{Skip: all &^ st(mail, eom), NoReply: st(mail), Edits: filter.EditQuarantine}},
		{"sender quarantine and reject", []Rule{{Sender: "<>", Action: "quarantine"}, {Sender: "a.example", Action: "reject"}},
			filter.Needs{Skip: all &^ st(mail, eom), Edits: filter.EditQuarantine}},
		{"client quarantine", []Rule{{Client: "/x/", Action: "quarantine"}},
			filter.Needs{Skip: all &^ st(conn, eom), NoReply: st(conn), Edits: filter.EditQuarantine}},
		{"client discard", []Rule{{Client: "192.0.2.0/24", Action: "discard"}},
			filter.Needs{Skip: all &^ st(conn, mail), NoReply: st(conn)}},
		{"helo discard and sender accept", []Rule{{Helo: "x.example", Action: "discard"}, {Sender: "<>", Action: "accept"}},
			filter.Needs{Skip: all &^ st(helo, mail), NoReply: st(helo)}},
		{"recipient discard", []Rule{{Recipient: "x.example", Action: "discard"}},
			filter.Needs{Skip: all &^ st(rcpt)}},
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
