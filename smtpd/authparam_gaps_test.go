package smtpd

import (
	"reflect"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/xclient"
)

func TestParseAuthor(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"<>", "<>", true},
		{"+3C+3E", "<>", true},
		{"ann@example.net", "ann@example.net", true},
		{"ann+2B1@example.net", "ann+1@example.net", true},
		{"ann+2b1@example.net", "ann+1@example.net", true},
		{"+C3+BC@example.net", "\u00fc@example.net", true},
		{"\"a+20b\"@example.net", "\"a b\"@example.net", true},
		{"ann", "", false},
		{"postmaster", "", false},
		{"ann@", "", false},
		{"<ann@example.net>", "", false},
		{"a+20b@example.net", "", false},
		{"ann+ZZ@example.net", "", false},
		{"ann@example.net+2", "", false},
		{"+FF@example.net", "", false},
		{"+00@example.net", "", false},
		{"a@" + strings.Repeat("b", 497) + ".net", "", false},
		{"a=b@example.net", "a=b@example.net", true},
		{strings.Repeat("=", 200) + "@example.net", "", false}, // 600 characters once encoded
	}
	for _, tc := range tests {
		got, ok := parseAuthor(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseAuthor(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// FuzzAuthor: an AUTH value accepted is "<>" or a mailbox, and its
// encoding anew (what is kept and passed on) is a valid esmtp-value of at
// most 500 characters that decodes to the same.
func FuzzAuthor(f *testing.F) {
	f.Fuzz(func(t *testing.T, v string) {
		a, ok := parseAuthor(v)
		if !ok {
			return
		}
		enc := xclient.EncodeXtext(a)
		if len(enc) > maxAuthParam || !validValue(enc, false) || enc == "" {
			t.Fatalf("%q: kept as %q", v, enc)
		}
		if again, ok := parseAuthor(enc); !ok || again != a {
			t.Fatalf("%q: %q parses again as %q, %v", v, enc, again, ok)
		}
	})
}

// authorEvents returns f's MAIL events.
func authorEvents(f *recFilter) []string {
	var out []string
	for _, e := range f.log() {
		if strings.HasPrefix(e, "mail ") {
			out = append(out, e)
		}
	}
	return out
}

// TestAuthParamUnauthenticated: the AUTH parameter of a client that did
// not authenticate is checked, then kept as AUTH=<> (RFC 4954 §5), even
// from a trusted network.
func TestAuthParamUnauthenticated(t *testing.T) {
	f := &recFilter{macros: []string{"{auth_author}"}}
	opts := baseOptions(newTestSpool(t))
	opts.Filter = f
	ts := startServer(t, opts)
	for i, local := range []string{"127.0.0.2", "127.0.0.1"} { // not trusted, trusted
		c := dial(t, ts.addr, local)
		c.expect("220 mx.test ESMTP")
		c.ehlo("client.test")
		c.do("MAIL FROM:<a@example.net> AUTH=ann", "501 5.5.4 Bad AUTH parameter")
		c.do("MAIL FROM:<a@example.net> AUTH=ann+4@example.net", "501 5.5.4 Bad AUTH parameter")
		c.do("MAIL FROM:<a@example.net> AUTH=<ann@example.net>", "501 5.5.4 Bad AUTH parameter")
		c.do("MAIL FROM:<a@example.net> AUTH=", "501 5.5.4 Bad parameter syntax")
		c.do("MAIL FROM:<a@example.net> AUTH=ann+2B1@example.net BODY=7BIT", "250 2.1.0 Ok")
		c.do("RCPT TO:<b@example.org>", "250 2.1.5 Ok")
		c.do("DATA", "354 End data with <CR><LF>.<CR><LF>")
		c.send("Subject: a\r\n\r\n.\r\n")
		c.expect("250 2.0.0 Ok: queued as Q" + string(rune('1'+i)))
		c.do("QUIT", "221 2.0.0 Bye")
	}
	msgs := ts.spool.messages()
	if len(msgs) != 2 {
		t.Fatalf("%d messages queued", len(msgs))
	}
	for _, m := range msgs {
		if p := m.Envelope.From.ParamString(); p != "AUTH=<> BODY=7BIT" {
			t.Errorf("%s: sender parameters %q, want %q", m.Envelope.QueueID, p, "AUTH=<> BODY=7BIT")
		}
	}
	waitEvents(t, f, 2*11)
	want := []string{"mail <a@example.net> AUTH=<> BODY=7BIT", "mail <a@example.net> AUTH=<> BODY=7BIT"}
	if got := authorEvents(f); !reflect.DeepEqual(got, want) {
		t.Errorf("filter saw %q, want %q", got, want)
	}
}

// TestAuthParamAuthenticated: after AUTH the supplied mailbox is kept,
// xtext-encoded anew, and is {auth_author}; <> stays <>; no parameter
// stays none.
func TestAuthParamAuthenticated(t *testing.T) {
	f := &recFilter{macros: []string{"{auth_author}"}}
	opts := tlsOptions(t)
	opts.Filter = f
	ts := startServer(t, opts)
	c := dial(t, ts.addr, "127.0.0.2")
	c.expect("220 mx.test ESMTP")
	c.ehlo("client.test")
	c.do("STARTTLS", "220 2.0.0 Ready to start TLS")
	c.startTLS()
	c.do("EHLO client.test", ehloTLSReply)
	c.do("AUTH PLAIN AGFubgBzZWNyZXQ=", "235 2.7.0 Authentication successful")
	c.do("MAIL FROM:<a@example.net> AUTH=ann+40", "501 5.5.4 Bad AUTH parameter")
	for _, auth := range []string{" AUTH=ann+2b1@example.net", " AUTH=+3C+3E", ""} {
		c.do("MAIL FROM:<a@example.net>"+auth, "250 2.1.0 Ok")
		c.do("RCPT TO:<b@elsewhere.test>", "250 2.1.5 Ok")
		c.do("DATA", "354 End data with <CR><LF>.<CR><LF>")
		c.send("Subject: a\r\n\r\n.\r\n")
		if r := c.reply(); !strings.HasPrefix(r, "250 2.0.0 Ok: queued as Q") {
			t.Fatalf("end of data: %q", r)
		}
	}
	c.do("QUIT", "221 2.0.0 Bye")
	var params []string
	for _, m := range ts.spool.messages() {
		params = append(params, m.Envelope.From.ParamString())
	}
	if want := []string{"AUTH=ann+2B1@example.net", "AUTH=<>", ""}; !reflect.DeepEqual(params, want) {
		t.Errorf("sender parameters %q, want %q", params, want)
	}
	waitEvents(t, f, 20)
	want := []string{
		"mail <a@example.net> AUTH=ann+2B1@example.net {auth_author}=ann+2B1@example.net",
		"mail <a@example.net> AUTH=<>",
		"mail <a@example.net> ",
	}
	if got := authorEvents(f); !reflect.DeepEqual(got, want) {
		t.Errorf("filter saw %q, want %q", got, want)
	}
}

// TestAuthParamXClientLogin: a login that an authorised XCLIENT proxy
// vouches for counts as authenticated; without one the parameter is <>.
func TestAuthParamXClientLogin(t *testing.T) {
	ts := startServer(t, xclientOptions(t, nil))
	c := dial(t, ts.addr, "127.0.0.1")
	c.expect("220 mx.test ESMTP")
	c.do("EHLO proxy.test", ehloXReply)
	for _, login := range []string{"LOGIN=ann", "LOGIN=[UNAVAILABLE]"} {
		c.do("XCLIENT ADDR=192.0.2.7 "+login, "220 mx.test ESMTP")
		c.do("EHLO proxy.test", ehloXReply)
		c.do("MAIL FROM:<a@example.net> AUTH=ann@example.net", "250 2.1.0 Ok")
		c.do("RCPT TO:<b@example.org>", "250 2.1.5 Ok")
		c.do("DATA", "354 End data with <CR><LF>.<CR><LF>")
		c.send("Subject: a\r\n\r\n.\r\n")
		if r := c.reply(); !strings.HasPrefix(r, "250 2.0.0 Ok: queued as Q") {
			t.Fatalf("end of data: %q", r)
		}
	}
	var params []string
	for _, m := range ts.spool.messages() {
		params = append(params, m.Envelope.From.ParamString())
	}
	if want := []string{"AUTH=ann@example.net", "AUTH=<>"}; !reflect.DeepEqual(params, want) {
		t.Errorf("sender parameters %q, want %q", params, want)
	}
}
