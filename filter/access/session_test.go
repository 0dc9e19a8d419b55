package access

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/filter"
)

// step is one stage of a scripted session: "connect" (conn), "helo",
// "mail" and "rcpt" (arg), "eom" (want and edits), "abort".
type step struct {
	stage string
	arg   string
	conn  *envelope.Conn
	want  string   // the verdict's String(); "" means continue
	edits []string // at eom: the recorded edits
}

func drive(t *testing.T, f *Filter, steps []step) {
	t.Helper()
	ctx := context.Background()
	s, err := f.NewSession(ctx, filter.NoMacros)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	for i, st := range steps {
		var v filter.Verdict
		var edits []string
		switch st.stage {
		case "connect":
			v = s.Connect(ctx, st.conn)
		case "helo":
			v = s.Helo(ctx, st.arg)
		case "mail":
			v = s.Mail(ctx, envelope.Address{Addr: st.arg})
		case "rcpt":
			v = s.Rcpt(ctx, envelope.Address{Addr: st.arg})
		case "eom":
			m := filter.NewModifier(f.Needs().Edits, nil)
			v = s.EndOfMessage(ctx, m)
			for _, e := range m.Edits() {
				edits = append(edits, e.String())
			}
		case "abort":
			s.Abort(ctx)
			continue
		default:
			t.Fatalf("step %d: unknown stage %q", i, st.stage)
		}
		want := st.want
		if want == "" {
			want = "continue"
		}
		if v.String() != want {
			t.Errorf("step %d (%s %s): verdict %q, want %q", i, st.stage, st.arg, v, want)
		}
		if v.Reply != nil {
			if err := v.Reply.Validate(); err != nil {
				t.Errorf("step %d: invalid reply: %v", i, err)
			}
		}
		if !reflect.DeepEqual(edits, st.edits) {
			t.Errorf("step %d (%s): edits %q, want %q", i, st.stage, edits, st.edits)
		}
	}
}

func newFilter(t *testing.T, rules ...Rule) *Filter {
	t.Helper()
	f, err := New(Options{Rules: rules})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestSessions(t *testing.T) {
	tests := []struct {
		name  string
		rules []Rule
		steps []step
	}{
		{"client IPv4 reject with reply", []Rule{{Client: "192.0.2.1", Action: "reject", Reply: "554 5.7.1 Go away"}}, []step{
			{stage: "connect", conn: conn("192.0.2.1", "mx.example.net"), want: "reject 554 5.7.1 Go away"},
		}},
		{"client elsewhere passes", []Rule{{Client: "192.0.2.1", Action: "reject"}}, []step{
			{stage: "connect", conn: conn("192.0.2.2", "")},
		}},
		{"client CIDR tempfail, default reply", []Rule{{Client: "198.51.100.0/24", Action: "tempfail"}}, []step{
			{stage: "connect", conn: conn("198.51.100.255", ""), want: "tempfail"},
		}},
		{"client IPv6 multi-line reply", []Rule{{Client: "2001:db8::/32", Action: "reject", Reply: "550 5.7.1 Blocked\n550 https://example.com/why"}}, []step{
			{stage: "connect", conn: conn("2001:db8:1::25", ""), want: "reject 550-5.7.1 Blocked / 550 5.7.1 https://example.com/why"},
		}},
		{"first match wins", []Rule{
			{Client: "192.0.2.1", Action: "accept"},
			{Client: "192.0.2.0/24", Action: "reject"},
			{Sender: "<>", Action: "reject"},
		}, []step{
			{stage: "connect", conn: conn("192.0.2.1", ""), want: "accept"},
			{stage: "helo", arg: "x"},
			{stage: "mail", arg: ""},
			{stage: "rcpt", arg: "a@example.com"},
			{stage: "eom"},
		}},
		{"first match wins, next address", []Rule{
			{Client: "192.0.2.1", Action: "accept"},
			{Client: "192.0.2.0/24", Action: "reject"},
		}, []step{
			{stage: "connect", conn: conn("192.0.2.2", ""), want: "reject"},
		}},
		{"helo subdomain reject, case-insensitive", []Rule{{Helo: ".example.com", Action: "reject", Reply: "550 5.7.1 Bad HELO"}}, []step{
			{stage: "connect", conn: conn("192.0.2.1", "")},
			{stage: "helo", arg: "example.com"},
			{stage: "helo", arg: "MX.Example.COM", want: "reject 550 5.7.1 Bad HELO"},
		}},
		{"sender domain vs subdomain", []Rule{
			{Sender: "example.com", Action: "reject"},
			{Sender: ".example.org", Action: "tempfail", Reply: "451 Slow down"},
		}, []step{
			{stage: "mail", arg: "a@sub.example.com"},
			{stage: "abort"},
			{stage: "mail", arg: "a@Example.com", want: "reject"},
			{stage: "abort"},
			{stage: "mail", arg: "a@example.org"},
			{stage: "abort"},
			{stage: "mail", arg: "a@lists.example.org", want: "tempfail 451 4.7.1 Slow down"},
		}},
		{"null sender discard", []Rule{{Sender: "<>", Action: "discard"}}, []step{
			{stage: "mail", arg: "someone@example.com"},
			{stage: "abort"},
			{stage: "mail", arg: "", want: "discard"},
		}},
		{"recipient reject is per recipient", []Rule{{Recipient: "nobody@example.com", Action: "reject", Reply: "550 5.1.1 No such user"}}, []step{
			{stage: "mail", arg: "a@example.org"},
			{stage: "rcpt", arg: "someone@example.com"},
			{stage: "rcpt", arg: "NoBody@example.com", want: "reject 550 5.1.1 No such user"},
			{stage: "rcpt", arg: "other@example.com"},
			{stage: "eom"},
		}},
		{"recipient discard", []Rule{{Recipient: "/^trap@/", Action: "discard"}}, []step{
			{stage: "mail", arg: "a@example.org"},
			{stage: "rcpt", arg: "real@example.com"},
			{stage: "rcpt", arg: "trap@example.com", want: "discard"},
		}},
		{"recipient quarantine: this message only", []Rule{{Recipient: "/^trap@/", Action: "quarantine"}}, []step{
			{stage: "mail", arg: "a@example.org"},
			{stage: "rcpt", arg: "trap@example.com"},
			{stage: "eom", edits: []string{"quarantine access rule 1: /^trap@/"}},
			{stage: "mail", arg: "a@example.org"},
			{stage: "rcpt", arg: "real@example.com"},
			{stage: "eom"},
			{stage: "mail", arg: "a@example.org"},
			{stage: "rcpt", arg: "trap@example.com"},
			{stage: "abort"},
			{stage: "mail", arg: "a@example.org"},
			{stage: "rcpt", arg: "real@example.com"},
			{stage: "eom"},
		}},
		{"client quarantine: every message", []Rule{{Client: `/\.example\.net$/`, Action: "quarantine", Reason: "suspicious network"}}, []step{
			{stage: "connect", conn: conn("192.0.2.1", "host.EXAMPLE.net")},
			{stage: "mail", arg: "a@example.org"},
			{stage: "eom", edits: []string{"quarantine suspicious network"}},
			{stage: "mail", arg: "b@example.org"},
			{stage: "abort"},
			{stage: "mail", arg: "c@example.org"},
			{stage: "eom", edits: []string{"quarantine suspicious network"}},
		}},
		{"quarantine precedence: client, then message", []Rule{
			{Client: "192.0.2.0/24", Action: "quarantine"},
			{Sender: "<>", Action: "quarantine", Reason: "bounce"},
		}, []step{
			{stage: "connect", conn: conn("192.0.2.9", "")},
			{stage: "mail", arg: ""},
			{stage: "eom", edits: []string{"quarantine access rule 1: 192.0.2.0/24"}},
		}},
		{"first message quarantine reason kept", []Rule{
			{Sender: "/./", Action: "quarantine", Reason: "sender"},
			{Recipient: "/./", Action: "quarantine", Reason: "recipient"},
		}, []step{
			{stage: "mail", arg: "a@example.org"},
			{stage: "rcpt", arg: "b@example.org"},
			{stage: "eom", edits: []string{"quarantine sender"}},
		}},
		{"sender accept skips recipient rules for the message only", []Rule{
			{Sender: "friend@example.org", Action: "accept"},
			{Recipient: "example.com", Action: "reject"},
		}, []step{
			{stage: "mail", arg: "Friend@example.org", want: "accept"},
			{stage: "rcpt", arg: "a@example.com"},
			{stage: "eom"},
			{stage: "mail", arg: "stranger@example.org"},
			{stage: "rcpt", arg: "a@example.com", want: "reject"},
		}},
		{"recipient accept skips later recipients", []Rule{
			{Recipient: "postmaster@example.com", Action: "accept"},
			{Recipient: "example.com", Action: "reject"},
		}, []step{
			{stage: "mail", arg: "a@example.org"},
			{stage: "rcpt", arg: "postmaster@example.com", want: "accept"},
			{stage: "rcpt", arg: "a@example.com"},
		}},
		{"sender accept drops the connection's quarantine for that message", []Rule{
			{Client: "192.0.2.1", Action: "quarantine"},
			{Sender: "friend@example.org", Action: "accept"},
		}, []step{
			{stage: "connect", conn: conn("192.0.2.1", "")},
			{stage: "mail", arg: "friend@example.org", want: "accept"},
			{stage: "eom"},
			{stage: "mail", arg: "other@example.org"},
			{stage: "eom", edits: []string{"quarantine access rule 1: 192.0.2.1"}},
		}},
		{"client discard applies at each MAIL", []Rule{
			{Client: "::1", Action: "discard"},
			{Sender: "friend@example.org", Action: "accept"},
		}, []step{
			{stage: "connect", conn: conn("::1", "localhost")},
			{stage: "helo", arg: "localhost"},
			{stage: "mail", arg: "friend@example.org", want: "discard"},
			{stage: "abort"},
			{stage: "mail", arg: "b@example.org", want: "discard"},
		}},
		{"a new HELO replaces the HELO decision", []Rule{
			{Helo: "bad.example", Action: "discard"},
			{Helo: "/^quarantine\\./", Action: "quarantine"},
		}, []step{
			{stage: "helo", arg: "bad.example"},
			{stage: "mail", arg: "a@example.org", want: "discard"},
			{stage: "abort"},
			{stage: "helo", arg: "quarantine.example"},
			{stage: "mail", arg: "a@example.org"},
			{stage: "eom", edits: []string{`quarantine access rule 2: /^quarantine\./`}},
			{stage: "helo", arg: "good.example"},
			{stage: "mail", arg: "a@example.org"},
			{stage: "eom"},
		}},
		{"helo accept ends the connection's rules", []Rule{
			{Helo: "trusted.example", Action: "accept"},
			{Helo: "/./", Action: "reject"},
			{Sender: "/./", Action: "reject"},
		}, []step{
			{stage: "helo", arg: "TRUSTED.example", want: "accept"},
			{stage: "helo", arg: "other.example"},
			{stage: "mail", arg: "a@example.org"},
		}},
		{"unix socket client matches no address rule", []Rule{{Client: "0.0.0.0/0", Action: "reject"}, {Client: "::/0", Action: "reject"}}, []step{
			{stage: "connect", conn: &envelope.Conn{Family: envelope.FamilyUnix, ClientPath: "/run/sock"}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			drive(t, newFilter(t, tt.rules...), tt.steps)
		})
	}
}

func TestQuarantineUndeclaredTempFails(t *testing.T) {
	f := newFilter(t, Rule{Sender: "<>", Action: "quarantine"})
	ctx := context.Background()
	s, _ := f.NewSession(ctx, filter.NoMacros)
	s.Mail(ctx, envelope.Address{})
	if v := s.EndOfMessage(ctx, filter.NewModifier(0, nil)); v != filter.TempFail {
		t.Fatalf("EndOfMessage = %v, want tempfail", v)
	}
}

func TestVerdictReplyIsACopy(t *testing.T) {
	f := newFilter(t, Rule{Sender: "<>", Action: "reject", Reply: "550 5.7.1 No bounces"})
	ctx := context.Background()
	s, _ := f.NewSession(ctx, filter.NoMacros)
	v := s.Mail(ctx, envelope.Address{})
	v.Reply.Lines[0] = "changed"
	v.Reply.Code = 551
	if got := s.Mail(ctx, envelope.Address{}).String(); got != "reject 550 5.7.1 No bounces" {
		t.Fatalf("second verdict %q: the rule was changed through the first", got)
	}
}

func TestDefaultReasonIsAcceptedByModifier(t *testing.T) {
	long := "/" + strings.Repeat("a", maxPattern-2) + "/"
	f := newFilter(t, Rule{Sender: long, Action: "quarantine"})
	ctx := context.Background()
	s, _ := f.NewSession(ctx, filter.NoMacros)
	s.Mail(ctx, envelope.Address{Addr: strings.Repeat("a", maxPattern)})
	m := filter.NewModifier(f.Needs().Edits, nil)
	s.EndOfMessage(ctx, m)
	if e := m.Edits(); len(e) != 1 || e[0].Reason != "access rule 1: "+long {
		t.Fatalf("edits = %v", e)
	}
}
