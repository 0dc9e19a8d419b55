package smtpd

import (
	"reflect"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/filter"
)

// macroNames are the canonical names of the macros, in macro order.
var macroNames = [numMacros]string{"j", "daemon_name", "v", "daemon_addr", "daemon_port", "_",
	"client_addr", "client_port", "client_name", "client_ptr", "tls_version", "cipher", "cipher_bits",
	"auth_type", "auth_authen", "auth_author", "i", "mail_addr", "mail_host", "mail_mailer",
	"rcpt_addr", "rcpt_host", "rcpt_mailer"}

func TestMacroByName(t *testing.T) {
	for m, name := range macroNames {
		if got, ok := macroByName(name); !ok || got != macro(m) {
			t.Errorf("macroByName(%q) = %d, %v; want %d", name, got, ok, m)
		}
	}
	for _, name := range []string{"", "{j}", "J", "cert_subject", "client_resolve"} {
		if m, ok := macroByName(name); ok {
			t.Errorf("macroByName(%q) = %d, want none", name, m)
		}
	}
	// Every macro Postfix sends by default that the server knows is
	// computed for a filter that lists the defaults.
	want := wantMacros(passFilter{filter.Needs{Macros: filter.DefaultMacros()}})
	wantNames := []string{"j", "daemon_name", "v", "daemon_addr", "_", "tls_version", "cipher", "cipher_bits",
		"auth_type", "auth_authen", "auth_author", "i", "mail_addr", "mail_host", "mail_mailer",
		"rcpt_addr", "rcpt_host", "rcpt_mailer"}
	var got []string
	for m, name := range macroNames {
		if want&(1<<m) != 0 {
			got = append(got, name)
		}
	}
	if !reflect.DeepEqual(got, wantNames) {
		t.Errorf("default macros computed: %v, want %v", got, wantNames)
	}
}

func TestWantMacros(t *testing.T) {
	tests := []struct {
		name string
		flt  filter.Filter
		want macroBits
	}{
		{"no filter", nil, 0},
		{"all", passFilter{}, allMacros},
		{"none listed", passFilter{filter.Needs{Macros: map[filter.Stage][]string{}}}, 1 << mRcptMailer},
		{"some, braces or not", passFilter{filter.Needs{Macros: map[filter.Stage][]string{
			filter.StageConnect: {"{client_addr}", "unknown_one"}, filter.StageEndOfMessage: {"i", "client_addr"}}}},
			1<<mRcptMailer | 1<<mClientAddr | 1<<mI},
	}
	for _, tc := range tests {
		if got := wantMacros(tc.flt); got != tc.want {
			t.Errorf("%s: %b, want %b", tc.name, got, tc.want)
		}
	}
}

// TestMacrosNoFilter: a session without a filter computes no macro.
func TestMacrosNoFilter(t *testing.T) {
	s := benchMacroSession(nil)
	s.setConnMacros()
	s.setMailMacros("Q1", envelope.Address{Addr: "a@example.net"})
	s.setRcptMacros("b@example.org")
	if s.macros.have != 0 {
		t.Fatalf("macros set without a filter: %b", s.macros.have)
	}
	if v, ok := s.macros.Macro("j"); ok {
		t.Fatalf("j = %q", v)
	}
}

// macroSession runs one message from 127.0.0.2 through a server whose
// filter is f, and returns what f saw and the client's port.
func macroSession(t *testing.T, f *recFilter) ([]string, string) {
	t.Helper()
	opts := baseOptions(newTestSpool(t))
	opts.Filter = f
	ts := startServer(t, opts)
	c := dial(t, ts.addr, "127.0.0.2")
	c.expect("220 mx.test ESMTP")
	c.ehlo("client.test")
	if got := c.sendMessage("a@example.net", []string{"b@example.org"}, "Subject: m\r\n\r\n.\r\n"); got != "250 2.0.0 Ok: queued as Q1" {
		t.Fatalf("end of data: %q", got)
	}
	c.do("QUIT", "221 2.0.0 Bye")
	waitEvents(t, f, 10)
	return f.log(), portOf(t, c)
}

// TestMacrosAskedOnly: a filter that lists its macros gets those (and
// {rcpt_mailer}) at every stage from the one where they are known, and
// no other.
func TestMacrosAskedOnly(t *testing.T) {
	f := &recFilter{
		needs: filter.Needs{Macros: map[filter.Stage][]string{
			filter.StageMail: {"{mail_addr}"}, filter.StageEndOfMessage: {"i"}}},
		macros: []string{"j", "_", "{client_addr}", "i", "{mail_addr}", "{mail_host}", "{rcpt_addr}", "{rcpt_mailer}"},
	}
	got, port := macroSession(t, f)
	want := []string{
		"open",
		"connect [127.0.0.2] 127.0.0.2:" + port,
		"helo client.test",
		"mail <a@example.net>  i=Q1 {mail_addr}=a@example.net",
		"rcpt <b@example.org> i=Q1 {mail_addr}=a@example.net {rcpt_mailer}=smtp",
		"data i=Q1 {mail_addr}=a@example.net {rcpt_mailer}=smtp",
		"header Subject:m", "eoh",
		"eom i=Q1 {mail_addr}=a@example.net {rcpt_mailer}=smtp",
		"close",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("filter saw\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestMacrosDefaults: a filter that lists Postfix's defaults gets them,
// the queue ID (i) included, but not {client_addr}, which they lack.
func TestMacrosDefaults(t *testing.T) {
	f := &recFilter{
		needs:  filter.Needs{Macros: filter.DefaultMacros()},
		macros: []string{"j", "_", "{daemon_name}", "v", "{client_addr}", "i", "{mail_addr}", "{mail_host}", "{rcpt_addr}"},
	}
	got, port := macroSession(t, f)
	conn := "j=mx.test _=unknown [127.0.0.2] {daemon_name}=sluice v=sluice"
	want := []string{
		"open",
		"connect [127.0.0.2] 127.0.0.2:" + port + " " + conn,
		"helo client.test " + conn,
		"mail <a@example.net>  " + conn + " i=Q1 {mail_addr}=a@example.net {mail_host}=example.net",
		"rcpt <b@example.org> " + conn + " i=Q1 {mail_addr}=a@example.net {mail_host}=example.net {rcpt_addr}=b@example.org",
		"data " + conn + " i=Q1 {mail_addr}=a@example.net {mail_host}=example.net {rcpt_addr}=b@example.org",
		"header Subject:m", "eoh",
		"eom " + conn + " i=Q1 {mail_addr}=a@example.net {mail_host}=example.net {rcpt_addr}=b@example.org",
		"close",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("filter saw\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestMacrosRejectedRecipientInChain: with listed macros that do not
// include {rcpt_mailer}, a chain still tells a refused recipient from an
// accepted one, and calls for it only the member that asked.
func TestMacrosRejectedRecipientInChain(t *testing.T) {
	none := map[filter.Stage][]string{}
	wants := &recFilter{needs: filter.Needs{Macros: none, RejectedRecipients: true}}
	plain := &recFilter{needs: filter.Needs{Macros: none}}
	opts := baseOptions(newTestSpool(t))
	opts.Filter = filter.NewChain(wants, plain)
	ts := startServer(t, opts)
	c := dial(t, ts.addr, "127.0.0.2")
	c.expect("220 mx.test ESMTP")
	c.ehlo("client.test")
	c.do("MAIL FROM:<a@example.net>", "250 2.1.0 Ok")
	c.do("RCPT TO:<x@elsewhere.test>", "554 5.7.1 <x@elsewhere.test>: Relay access denied")
	c.do("RCPT TO:<b@example.org>", "250 2.1.5 Ok")
	c.do("QUIT", "221 2.0.0 Bye")
	waitEvents(t, wants, 7)
	waitEvents(t, plain, 6)
	rcpts := func(f *recFilter) []string {
		var out []string
		for _, e := range f.log() {
			if strings.HasPrefix(e, "rcpt ") {
				out = append(out, e)
			}
		}
		return out
	}
	if got, want := rcpts(wants), []string{"rcpt <x@elsewhere.test>", "rcpt <b@example.org>"}; !reflect.DeepEqual(got, want) {
		t.Errorf("member wanting refused recipients saw %q, want %q", got, want)
	}
	if got, want := rcpts(plain), []string{"rcpt <b@example.org>"}; !reflect.DeepEqual(got, want) {
		t.Errorf("other member saw %q, want %q", got, want)
	}
}
