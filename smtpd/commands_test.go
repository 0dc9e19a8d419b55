package smtpd

import (
	"strings"
	"testing"
)

const ehloReply = "250-mx.test\n250-PIPELINING\n250-SIZE 52428800\n250-8BITMIME\n250-SMTPUTF8\n" +
	"250-ENHANCEDSTATUSCODES\n250-CHUNKING\n250 DSN"

func TestGreetingAndEhlo(t *testing.T) {
	ts := startServer(t, baseOptions(newTestSpool(t)))
	c := dial(t, ts.addr, "")
	c.expect("220 mx.test ESMTP")
	c.do("EHLO client.test", ehloReply)
	c.do("HELO client.test", "250 mx.test")
	c.do("QUIT", "221 2.0.0 Bye")
	c.closed()
}

// TestCommandReplies checks the exact reply to each command, in order,
// on one session that starts with EHLO client.test.
func TestCommandReplies(t *testing.T) {
	tests := []struct {
		name  string
		steps [][2]string // command, reply
	}{
		{"noop, help, vrfy, expn", [][2]string{
			{"NOOP", "250 2.0.0 Ok"},
			{"noop anything", "250 2.0.0 Ok"},
			{"HELP", "214 2.0.0 Commands: HELO EHLO MAIL RCPT DATA BDAT RSET NOOP VRFY HELP QUIT STARTTLS AUTH"},
			{"VRFY ann", "252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery"},
			{"VRFY", "501 5.5.4 Syntax: VRFY address"},
			{"EXPN list", "502 5.5.1 EXPN not implemented"},
		}},
		{"unknown and bad commands", [][2]string{
			{"FOO bar", "500 5.5.1 Command not recognized"},
			{"RSET now", "501 5.5.4 Syntax: RSET"},
			{"DATA now", "501 5.5.4 Syntax: DATA"},
			{"EHLO", "501 5.5.4 Syntax: EHLO hostname"},
			{"HELO two words", "501 5.5.4 Syntax: HELO hostname"},
			{"STARTTLS", "502 5.5.1 STARTTLS not available"},
			{"AUTH PLAIN", "502 5.5.1 AUTH not available"},
		}},
		{"sequence errors", [][2]string{
			{"RCPT TO:<a@example.org>", "503 5.5.1 Need MAIL command"},
			{"DATA", "503 5.5.1 Need MAIL command"},
			{"MAIL FROM:<a@example.net>", "250 2.1.0 Ok"},
			{"MAIL FROM:<a@example.net>", "503 5.5.1 Nested MAIL command"},
			{"DATA", "503 5.5.1 Need RCPT command"},
			{"RCPT TO:<nobody@elsewhere.test>", "250 2.1.5 Ok"}, // 127.0.0.1 is trusted
			{"RSET", "250 2.0.0 Ok"},
			{"RCPT TO:<a@example.org>", "503 5.5.1 Need MAIL command"},
		}},
		{"addresses", [][2]string{
			{"MAIL FROM:a@example.net", "501 5.1.7 Bad sender address syntax; use MAIL FROM:<address>"},
			{"MAIL FROM:<a@>", "501 5.1.7 Bad sender address syntax; use MAIL FROM:<address>"},
			{"MAIL FROM:<postmaster>", "501 5.1.7 Bad sender address syntax; use MAIL FROM:<address>"},
			{"MAIL TO:<a@example.net>", "501 5.1.7 Bad sender address syntax; use MAIL FROM:<address>"},
			{"MAIL FROM: <@relay.test:a@example.net>", "250 2.1.0 Ok"},
			{"RCPT TO:<>", "501 5.1.3 Bad recipient address syntax; use RCPT TO:<address>"},
			{"RCPT TO:<a b@example.org>", "501 5.1.3 Bad recipient address syntax; use RCPT TO:<address>"},
			{"RCPT TO:<\"a b\"@example.org>", "250 2.1.5 Ok"},
			{"RCPT TO:<Postmaster>", "250 2.1.5 Ok"},
			{"RCPT TO:<a@[192.0.2.1]>", "250 2.1.5 Ok"},
			{"RCPT TO:<ü@example.org>", "553 5.6.7 Non-ASCII address needs SMTPUTF8"},
			{"RSET", "250 2.0.0 Ok"},
			{"MAIL FROM:<>", "250 2.1.0 Ok"},
		}},
		{"parameters", [][2]string{
			{"MAIL FROM:<a@example.net> SIZE=52428801", "552 5.3.4 Message size exceeds fixed maximum message size"},
			{"MAIL FROM:<a@example.net> SIZE=-1", "501 5.5.4 Bad SIZE parameter"},
			{"MAIL FROM:<a@example.net> BODY=BINARYMIME", "501 5.5.4 Bad BODY parameter"},
			{"MAIL FROM:<a@example.net> FOO=1", "555 5.5.4 Unsupported parameter FOO"},
			{"MAIL FROM:<a@example.net> SIZE=1 SIZE=2", "501 5.5.4 Duplicate parameter SIZE"},
			{"MAIL FROM:<a@example.net> SIZE=", "501 5.5.4 Bad parameter syntax"},
			{"MAIL FROM:<a@example.net> RET=ALL", "501 5.5.4 Bad RET parameter"},
			{"MAIL FROM:<ü@example.net> SMTPUTF8 size=10 BODY=8BITMIME RET=HDRS ENVID=a+2Bb", "250 2.1.0 Ok"},
			{"RCPT TO:<b@example.org> NOTIFY=NEVER,DELAY", "501 5.5.4 Bad NOTIFY parameter"},
			{"RCPT TO:<b@example.org> ORCPT=rfc822", "501 5.5.4 Bad ORCPT parameter"},
			{"RCPT TO:<b@example.org> XYZ", "555 5.5.4 Unsupported parameter XYZ"},
			{"RCPT TO:<ü@example.org> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b+40example.org", "250 2.1.5 Ok"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, baseOptions(newTestSpool(t)))
			c := dial(t, ts.addr, "")
			c.expect("220 mx.test ESMTP")
			c.ehlo("client.test")
			for _, st := range tt.steps {
				c.do(st[0], st[1])
			}
		})
	}
}

func TestHeloRules(t *testing.T) {
	ts := startServer(t, baseOptions(newTestSpool(t)))
	c := dial(t, ts.addr, "")
	c.expect("220 mx.test ESMTP")
	c.do("MAIL FROM:<a@example.net>", "503 5.5.1 Send HELO or EHLO first")
	c.do("HELO client.test", "250 mx.test")
	c.do("MAIL FROM:<a@example.net> SIZE=10", "555 5.5.4 Parameters need EHLO")
	c.do("MAIL FROM:<a@example.net>", "250 2.1.0 Ok")
	// EHLO resets the transaction.
	c.do("EHLO client.test", ehloReply)
	c.do("RCPT TO:<a@example.org>", "503 5.5.1 Need MAIL command")
}

func TestHostileInput(t *testing.T) {
	opts := baseOptions(newTestSpool(t))
	opts.MaxErrors = 100
	ts := startServer(t, opts)
	c := dial(t, ts.addr, "")
	c.expect("220 mx.test ESMTP")
	c.do("NOOP\x00", "500 5.5.2 Bad character in command")
	c.do("NO\tOP", "500 5.5.2 Bad character in command")
	c.send("NOOP\n")
	c.expect("500 5.5.2 Command line not ended by CRLF")
	c.do("NOOP\rNOOP", "500 5.5.2 Bad character in command")
	c.do("NOOP "+strings.Repeat("x", 506), "500 5.5.2 Line too long")
	c.do("NOOP "+strings.Repeat("x", 10000), "500 5.5.2 Line too long")
	c.do("NOOP "+strings.Repeat("x", 20000), "500 5.5.2 Line too long")
	c.do("\xff\xfe garbage \x80", "500 5.5.1 Command not recognized")
	c.do("NOOP "+strings.Repeat("x", 505), "250 2.0.0 Ok") // 512 with CRLF
	c.do("NOOP", "250 2.0.0 Ok")
}

func TestHTTPVerbCloses(t *testing.T) {
	ts := startServer(t, baseOptions(newTestSpool(t)))
	c := dial(t, ts.addr, "")
	c.expect("220 mx.test ESMTP")
	c.send("GET / HTTP/1.1\r\nHost: mx.test\r\n\r\n")
	c.expect("502 5.5.1 This is an SMTP server, not a web server")
	c.closed()
}

func TestMaxErrors(t *testing.T) {
	opts := baseOptions(newTestSpool(t))
	opts.MaxErrors = 3
	ts := startServer(t, opts)
	c := dial(t, ts.addr, "")
	c.expect("220 mx.test ESMTP")
	c.do("FOO", "500 5.5.1 Command not recognized")
	c.do("NOOP", "250 2.0.0 Ok")
	c.do("BAR", "500 5.5.1 Command not recognized")
	c.do("BAZ", "500 5.5.1 Command not recognized")
	c.expect("421 4.7.0 mx.test Too many errors, closing connection")
	c.closed()
	// The server is still up.
	c2 := dial(t, ts.addr, "")
	c2.expect("220 mx.test ESMTP")
}
