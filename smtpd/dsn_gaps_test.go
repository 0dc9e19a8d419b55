package smtpd

import (
	"strings"
	"testing"
)

// TestDSNParameters: RET, ENVID (RFC 3461 §4.3, §4.4), NOTIFY and ORCPT
// (§4.1, §4.2) are checked, each malformed value with its exact reply,
// and the valid ones reach the queued envelope as sent.
func TestDSNParameters(t *testing.T) {
	opts := baseOptions(newTestSpool(t))
	opts.MaxErrors = 100
	ts := startServer(t, opts)
	c := dial(t, ts.addr, "127.0.0.2")
	c.expect("220 mx.test ESMTP")
	c.ehlo("client.test")
	steps := [][2]string{
		{"MAIL FROM:<a@example.net> RET", "501 5.5.4 Bad RET parameter"},
		{"MAIL FROM:<a@example.net> RET=", "501 5.5.4 Bad parameter syntax"},
		{"MAIL FROM:<a@example.net> RET=HEADERS", "501 5.5.4 Bad RET parameter"},
		{"MAIL FROM:<a@example.net> RET=FULL RET=HDRS", "501 5.5.4 Duplicate parameter RET"},
		{"MAIL FROM:<a@example.net> ENVID", "501 5.5.4 Bad ENVID parameter"},
		{"MAIL FROM:<a@example.net> ENVID=a+ZZ", "501 5.5.4 Bad ENVID parameter"},
		{"MAIL FROM:<a@example.net> ENVID=a+4", "501 5.5.4 Bad ENVID parameter"},
		{"MAIL FROM:<a@example.net> ENVID=" + strings.Repeat("e", 101), "501 5.5.4 Bad ENVID parameter"},
		{"MAIL FROM:<a@example.net> SMTPUTF8 ENVID=\u00e9", "501 5.5.4 Bad ENVID parameter"},
		{"MAIL FROM:<a@example.net> ENVID=a\u00e9", "501 5.5.4 Bad parameter syntax"},
		{"MAIL FROM:<a@example.net> ret=hdrs ENVID=" + strings.Repeat("e", 97) + "+2B", "250 2.1.0 Ok"},
		{"RCPT TO:<b@example.org> NOTIFY", "501 5.5.4 Bad NOTIFY parameter"},
		{"RCPT TO:<b@example.org> NOTIFY=", "501 5.5.4 Bad parameter syntax"},
		{"RCPT TO:<b@example.org> NOTIFY=NEVER,SUCCESS", "501 5.5.4 Bad NOTIFY parameter"},
		{"RCPT TO:<b@example.org> NOTIFY=SUCCESS,,FAILURE", "501 5.5.4 Bad NOTIFY parameter"},
		{"RCPT TO:<b@example.org> NOTIFY=SUCCESS,SUCCESS", "501 5.5.4 Bad NOTIFY parameter"},
		{"RCPT TO:<b@example.org> NOTIFY=ALWAYS", "501 5.5.4 Bad NOTIFY parameter"},
		{"RCPT TO:<b@example.org> NOTIFY=NEVER NOTIFY=NEVER", "501 5.5.4 Duplicate parameter NOTIFY"},
		{"RCPT TO:<b@example.org> ORCPT", "501 5.5.4 Bad ORCPT parameter"},
		{"RCPT TO:<b@example.org> ORCPT=rfc822;", "501 5.5.4 Bad ORCPT parameter"},
		{"RCPT TO:<b@example.org> ORCPT=;b@example.org", "501 5.5.4 Bad ORCPT parameter"},
		{"RCPT TO:<b@example.org> ORCPT=rfc_822;b@example.org", "501 5.5.4 Bad ORCPT parameter"},
		{"RCPT TO:<b@example.org> ORCPT=rfc822;b+ZZexample.org", "501 5.5.4 Bad ORCPT parameter"},
		{"RCPT TO:<b@example.org> ORCPT=rfc822;" + strings.Repeat("b", 494), "501 5.5.4 Bad ORCPT parameter"},
		{"RCPT TO:<b@example.org> notify=never ORCPT=RFC822;b+40example.org", "250 2.1.5 Ok"},
		{"RCPT TO:<c@example.org> NOTIFY=delay,failure ORCPT=x-local;c", "250 2.1.5 Ok"},
		{"DATA", "354 End data with <CR><LF>.<CR><LF>"},
	}
	for _, st := range steps {
		c.do(st[0], st[1])
	}
	c.send("Subject: dsn\r\n\r\n.\r\n")
	c.expect("250 2.0.0 Ok: queued as Q1")
	m := ts.spool.messages()[0].Envelope
	want := []string{"RET=hdrs ENVID=" + strings.Repeat("e", 97) + "+2B", "NOTIFY=never ORCPT=RFC822;b+40example.org",
		"NOTIFY=delay,failure ORCPT=x-local;c"}
	got := []string{m.From.ParamString(), m.Recipients[0].ParamString(), m.Recipients[1].ParamString()}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("parameters %d: %q, want %q", i, got[i], want[i])
		}
	}
}
