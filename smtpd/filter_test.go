package smtpd

import (
	"reflect"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/filter"
)

func TestFilterStagesAndMacros(t *testing.T) {
	f := &recFilter{
		needs:  filter.Needs{RejectedRecipients: true},
		macros: []string{"i", "{mail_addr}", "{rcpt_addr}", "{rcpt_host}", "{rcpt_mailer}"},
	}
	opts := baseOptions(newTestSpool(t))
	opts.Filter = f
	ts := startServer(t, opts)
	c := dial(t, ts.addr, "127.0.0.2")
	c.expect("220 mx.test ESMTP")
	c.ehlo("client.test")
	c.do("MAIL FROM:<a@example.net> BODY=8BITMIME", "250 2.1.0 Ok")
	c.do("RCPT TO:<x@elsewhere.test>", "554 5.7.1 <x@elsewhere.test>: Relay access denied")
	c.do("RCPT TO:<b@example.org>", "250 2.1.5 Ok")
	c.do("DATA", "354 End data with <CR><LF>.<CR><LF>")
	c.send("Subject: one\r\n two\r\nX-A:a\r\n\r\nbody\r\n.\r\n")
	c.expect("250 2.0.0 Ok: queued as Q1")
	c.do("FOO bar", "500 5.5.1 Command not recognized")
	c.do("QUIT", "221 2.0.0 Bye")
	want := []string{
		"open",
		"connect [127.0.0.2] 127.0.0.2:" + portOf(t, c),
		"helo client.test",
		"mail <a@example.net> BODY=8BITMIME i=Q1 {mail_addr}=a@example.net",
		"rcpt <x@elsewhere.test> i=Q1 {mail_addr}=a@example.net {rcpt_addr}=<x@elsewhere.test>: Relay access denied {rcpt_host}=5.7.1 {rcpt_mailer}=error",
		"rcpt <b@example.org> i=Q1 {mail_addr}=a@example.net {rcpt_addr}=b@example.org {rcpt_host}=example.org {rcpt_mailer}=smtp",
		"data i=Q1 {mail_addr}=a@example.net {rcpt_addr}=b@example.org {rcpt_host}=example.org {rcpt_mailer}=smtp",
		`header Subject:one\r\n two`,
		"header X-A:a",
		"eoh",
		`body "body\r\n"`,
		"eom i=Q1 {mail_addr}=a@example.net {rcpt_addr}=b@example.org {rcpt_host}=example.org {rcpt_mailer}=smtp",
		"unknown FOO bar",
		"close",
	}
	waitEvents(t, f, len(want))
	if got := f.log(); !reflect.DeepEqual(got, want) {
		t.Fatalf("filter saw\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestFilterVerdicts: a verdict at each stage is the reply to that
// stage's command.
func TestFilterVerdicts(t *testing.T) {
	custom := func(code int, enh string, lines ...string) filter.Verdict {
		return filter.CustomReply(code, enh, lines...)
	}
	tests := []struct {
		name    string
		stage   filter.Stage
		verdict filter.Verdict
		steps   [][2]string // after greeting; "" command: read a reply only
		stored  int
	}{
		{"connect reject", filter.StageConnect, filter.Reject, [][2]string{
			{"", "554 5.7.1 Access denied"}, {"EHLO client.test", "503 5.5.1 Bad sequence of commands"}, {"QUIT", "221 2.0.0 Bye"}}, 0},
		{"connect custom", filter.StageConnect, custom(550, "5.7.1", "go away"), [][2]string{
			{"", "554 5.7.1 go away"}}, 0},
		{"connect tempfail", filter.StageConnect, filter.TempFail, [][2]string{
			{"", "421 4.7.1 Service temporarily unavailable, try again later"}, {"", "closed"}}, 0},
		{"helo reject", filter.StageHelo, filter.Reject, [][2]string{
			{"", "220 mx.test ESMTP"}, {"EHLO client.test", "550 5.7.1 Helo command rejected"},
			{"MAIL FROM:<a@example.net>", "503 5.5.1 Send HELO or EHLO first"}}, 0},
		{"mail reject", filter.StageMail, custom(550, "5.7.1", "Sender not welcome"), [][2]string{
			{"", "220 mx.test ESMTP"}, {"EHLO client.test", ehloReply},
			{"MAIL FROM:<a@example.net>", "550 5.7.1 Sender not welcome"},
			{"RCPT TO:<b@example.org>", "503 5.5.1 Need MAIL command"}}, 0},
		{"mail tempfail", filter.StageMail, filter.TempFail, [][2]string{
			{"", "220 mx.test ESMTP"}, {"EHLO client.test", ehloReply},
			{"MAIL FROM:<a@example.net>", "451 4.7.1 Service temporarily unavailable, try again later"}}, 0},
		{"rcpt tempfail", filter.StageRcpt, filter.TempFail, [][2]string{
			{"", "220 mx.test ESMTP"}, {"EHLO client.test", ehloReply}, {"MAIL FROM:<a@example.net>", "250 2.1.0 Ok"},
			{"RCPT TO:<b@example.org>", "450 4.7.1 Recipient temporarily refused, try again later"},
			{"DATA", "554 5.5.1 No valid recipients"}}, 0},
		{"data reject", filter.StageData, filter.Reject, [][2]string{
			{"", "220 mx.test ESMTP"}, {"EHLO client.test", ehloReply}, {"MAIL FROM:<a@example.net>", "250 2.1.0 Ok"},
			{"RCPT TO:<b@example.org>", "250 2.1.5 Ok"}, {"DATA", "550 5.7.1 Message content rejected"},
			{"RCPT TO:<b@example.org>", "503 5.5.1 Need MAIL command"}}, 0},
		{"header reject", filter.StageHeader, filter.Reject, dataSteps("550 5.7.1 Message content rejected"), 0},
		{"body multi-line", filter.StageBody, custom(554, "5.7.0", "line one", "line two"),
			dataSteps("554-5.7.0 line one\n554 5.7.0 line two"), 0},
		{"eom tempfail", filter.StageEndOfMessage, filter.TempFail,
			dataSteps("451 4.7.1 Service temporarily unavailable, try again later"), 0},
		{"eom 421 closes", filter.StageEndOfMessage, custom(421, "4.7.0", "closing"),
			append(dataSteps("421 4.7.0 closing"), [2]string{"", "closed"}), 0},
		{"eom discard", filter.StageEndOfMessage, filter.Discard, dataSteps("250 2.0.0 Ok: queued as Q1"), 0},
		{"rcpt discard", filter.StageRcpt, filter.Discard, dataSteps("250 2.0.0 Ok: queued as Q1"), 0},
		{"header accept", filter.StageHeader, filter.Accept, dataSteps("250 2.0.0 Ok: queued as Q1"), 1},
		{"unknown custom", filter.StageUnknown, custom(502, "5.5.1", "not here"), [][2]string{
			{"", "220 mx.test ESMTP"}, {"XYZZY", "502 5.5.1 not here"}}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &recFilter{verdicts: map[filter.Stage]filter.Verdict{tt.stage: tt.verdict}}
			opts := baseOptions(newTestSpool(t))
			opts.Filter = f
			ts := startServer(t, opts)
			c := dial(t, ts.addr, "")
			for _, st := range tt.steps {
				switch {
				case st[1] == "closed":
					c.closed()
				case st[0] == "":
					c.expect(st[1])
				default:
					c.do(st[0], st[1])
				}
			}
			if n := len(ts.spool.messages()); n != tt.stored {
				t.Fatalf("%d messages stored, want %d", n, tt.stored)
			}
			c.c.Close()
			waitEvents(t, f, 1)
			if left := leftoversAfterClose(t, ts); len(left) != 0 {
				t.Fatalf("drafts left: %v", left)
			}
		})
	}
}

// dataSteps is a whole transaction whose end of data gets final.
func dataSteps(final string) [][2]string {
	return [][2]string{
		{"", "220 mx.test ESMTP"}, {"EHLO client.test", ehloReply}, {"MAIL FROM:<a@example.net>", "250 2.1.0 Ok"},
		{"RCPT TO:<b@example.org>", "250 2.1.5 Ok"}, {"DATA", "354 End data with <CR><LF>.<CR><LF>"},
		{"Subject: s\r\n\r\nbody\r\n.", final},
	}
}

func TestFilterEdits(t *testing.T) {
	f := &recFilter{
		needs: filter.Needs{Edits: filter.AllEdits},
		eom: func(m *filter.Modifier) filter.Verdict {
			must(t, m.InsertHeader(0, "X-First", "top"))
			must(t, m.AddHeader("X-Added", "folded\n\tline\r\nBcc: injected@example.net\r\n\r\nbody?"))
			must(t, m.ChangeHeader("subject", 1, "changed"))
			must(t, m.DeleteHeader("X-Drop", 1))
			must(t, m.AddRecipient(envelope.Address{Addr: "new@example.org", Params: []envelope.Param{{Key: "NOTIFY", Value: "NEVER"}}}))
			must(t, m.AddRecipient(envelope.Address{Addr: "b@example.org"}))
			must(t, m.DeleteRecipient("c@example.org"))
			must(t, m.ChangeSender(envelope.Address{Addr: "bounce@example.net"}))
			must(t, m.Quarantine("looks odd"))
			return filter.Continue
		},
	}
	opts := baseOptions(newTestSpool(t))
	opts.Filter = f
	ts := startServer(t, opts)
	c := dial(t, ts.addr, "")
	c.expect("220 mx.test ESMTP")
	c.ehlo("client.test")
	got := c.sendMessage("a@example.net", []string{"b@example.org", "c@example.org"},
		"Subject: orig\r\nX-Drop: 1\r\nX-Keep:  spaced \r\n\r\nbody\r\n.\r\n")
	if got != "250 2.0.0 Ok: queued as Q1" {
		t.Fatal(got)
	}
	m := ts.spool.messages()[0]
	want := "Received: from client.test (unknown [127.0.0.1])\r\n" +
		"\tby mx.test (sluice) with ESMTP id Q1; Sat, 14 Mar 2026 15:09:26 +0000\r\n" + // two recipients: no "for"
		"X-First: top\r\n" +
		"Subject: changed\r\n" +
		"X-Keep:  spaced \r\n" +
		"X-Added: folded\r\n\tline\r\n Bcc: injected@example.net\r\n body?\r\n" +
		"\r\nbody\r\n"
	if m.content() != want {
		t.Fatalf("content\n got %q\nwant %q", m.content(), want)
	}
	env := m.Envelope
	if env.From.Addr != "bounce@example.net" || len(env.Recipients) != 2 || env.Recipients[0].Addr != "b@example.org" ||
		env.Recipients[1].Addr != "new@example.org" || env.Recipients[1].ParamString() != "NOTIFY=NEVER" || m.Quarantine != "looks odd" {
		t.Fatalf("envelope %+v quarantine %q", env, m.Quarantine)
	}
}

func TestFilterReplaceBody(t *testing.T) {
	f := &recFilter{
		needs: filter.Needs{Edits: filter.EditReplaceBody | filter.EditAddHeader},
		eom: func(m *filter.Modifier) filter.Verdict {
			must(t, m.ReplaceBody(strings.NewReader("new\nbody\r.\r\nend")))
			must(t, m.AddHeader("X-Replaced", "yes"))
			return filter.Accept
		},
	}
	opts := baseOptions(newTestSpool(t))
	opts.Filter = f
	ts := startServer(t, opts)
	c := dial(t, ts.addr, "")
	c.expect("220 mx.test ESMTP")
	c.ehlo("client.test")
	if got := c.sendMessage("a@example.net", []string{"b@example.org"}, "Subject: s\r\n\r\nold\r\n.\r\n"); got != "250 2.0.0 Ok: queued as Q2" {
		t.Fatal(got)
	}
	m := ts.spool.messages()[0]
	want := received("Q2", "b@example.org") + "Subject: s\r\nX-Replaced: yes\r\n\r\nnew\r\nbody\r\n.\r\nend\r\n"
	if m.content() != want || m.BodySize != int64(len("new\r\nbody\r\n.\r\nend\r\n")) {
		t.Fatalf("content\n got %q\nwant %q (body size %d)", m.content(), want, m.BodySize)
	}
	if left := ts.spool.leftovers(t); len(left) != 0 {
		t.Fatalf("drafts left: %v", left)
	}
}

func TestFilterHeaderLeadingSpace(t *testing.T) {
	f := &recFilter{
		needs: filter.Needs{HeaderLeadingSpace: true, Edits: filter.EditAddHeader},
		eom: func(m *filter.Modifier) filter.Verdict {
			must(t, m.AddHeader("X-Verbatim", "\tas written"))
			return filter.Continue
		},
	}
	opts := baseOptions(newTestSpool(t))
	opts.Filter = f
	ts := startServer(t, opts)
	c := dial(t, ts.addr, "")
	c.expect("220 mx.test ESMTP")
	c.ehlo("client.test")
	if got := c.sendMessage("a@example.net", []string{"b@example.org"}, "Subject:  two spaces\r\n\r\n.\r\n"); got != "250 2.0.0 Ok: queued as Q1" {
		t.Fatal(got)
	}
	if got := string(ts.spool.messages()[0].Header); !strings.HasSuffix(got, "Subject:  two spaces\r\nX-Verbatim:\tas written\r\n\r\n") {
		t.Fatalf("header %q", got)
	}
	waitEvents(t, f, 5)
	if !containsEvent(f.log(), "header Subject:  two spaces") {
		t.Fatalf("filter saw %q", f.log())
	}
}

func containsEvent(events []string, e string) bool {
	for _, x := range events {
		if x == e {
			return true
		}
	}
	return false
}

func must(t *testing.T, err error) {
	if err != nil {
		t.Error(err)
	}
}
