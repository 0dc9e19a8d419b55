package smtpd

import (
	"strings"
	"testing"
)

func TestBdat(t *testing.T) {
	ts := startServer(t, baseOptions(newTestSpool(t)))
	c := dial(t, ts.addr, "")
	c.expect("220 mx.test ESMTP")
	c.ehlo("client.test")
	c.do("MAIL FROM:<a@example.net>", "250 2.1.0 Ok")
	c.do("RCPT TO:<b@example.org>", "250 2.1.5 Ok")
	// The CRLF of the header section is split across chunks, and a dot
	// at the start of a line is content: BDAT has no stuffing.
	c.send("BDAT 14\r\nSubject: hi\r\n\r")
	c.expect("250 2.0.0 14 octets received")
	c.send("BDAT 0\r\n")
	c.expect("250 2.0.0 0 octets received")
	c.send("BDAT 10 LAST\r\n\n.\r\nbody\r\n")
	c.expect("250 2.0.0 Ok: queued as Q1")
	want := received("Q1", "b@example.org") + "Subject: hi\r\n\r\n.\r\nbody\r\n"
	if got := ts.spool.messages()[0].content(); got != want {
		t.Fatalf("content\n got %q\nwant %q", got, want)
	}
	// Pipelined, with a last chunk that does not end its line.
	c.send("MAIL FROM:<a@example.net>\r\nRCPT TO:<b@example.org>\r\nBDAT 9 LAST\r\nX: y\r\n\r\nzRSET\r\n")
	c.expect("250 2.1.0 Ok")
	c.expect("250 2.1.5 Ok")
	c.expect("250 2.0.0 Ok: queued as Q2")
	c.expect("250 2.0.0 Ok")
	if got := ts.spool.messages()[1].Body; string(got) != "z\r\n" {
		t.Fatalf("body %q", got)
	}
}

func TestBdatErrors(t *testing.T) {
	tests := []struct {
		name  string
		opts  func(*Options)
		steps [][2]string // raw input, reply
	}{
		{"no transaction: the chunk is read anyway", nil, [][2]string{
			{"BDAT 6\r\nNOOP\r\n", "503 5.5.1 Need MAIL command"},
			{"NOOP\r\n", "250 2.0.0 Ok"},
		}},
		{"DATA after BDAT", nil, [][2]string{
			{"MAIL FROM:<a@example.net>\r\n", "250 2.1.0 Ok"},
			{"RCPT TO:<b@example.org>\r\n", "250 2.1.5 Ok"},
			{"BDAT 3\r\nX: ", "250 2.0.0 3 octets received"},
			{"DATA\r\n", "503 5.5.1 DATA not allowed after BDAT"},
			{"RCPT TO:<c@example.org>\r\n", "503 5.5.1 RCPT not allowed after BDAT"},
			{"BDAT 3 LAST\r\ny\r\n", "250 2.0.0 Ok: queued as Q1"},
		}},
		{"bare LF in a chunk: later chunks get the same reply", nil, [][2]string{
			{"MAIL FROM:<a@example.net>\r\n", "250 2.1.0 Ok"},
			{"RCPT TO:<b@example.org>\r\n", "250 2.1.5 Ok"},
			{"BDAT 4\r\na\nb\n", "550 5.6.0 Message contains a bare CR or LF; lines must end with CRLF (RFC 5321 section 2.3.8)"},
			{"BDAT 3\r\nc\r\n", "550 5.6.0 Message contains a bare CR or LF; lines must end with CRLF (RFC 5321 section 2.3.8)"},
			{"BDAT 3 LAST\r\nd\r\n", "550 5.6.0 Message contains a bare CR or LF; lines must end with CRLF (RFC 5321 section 2.3.8)"},
			{"RCPT TO:<b@example.org>\r\n", "503 5.5.1 Need MAIL command"},
		}},
		{"size over the limit while reading", func(o *Options) { o.MaxMessageSize = 20 }, [][2]string{
			{"MAIL FROM:<a@example.net>\r\n", "250 2.1.0 Ok"},
			{"RCPT TO:<b@example.org>\r\n", "250 2.1.5 Ok"},
			{"BDAT 16\r\nSubject: 12345\r\n", "250 2.0.0 16 octets received"},
			{"BDAT 10 LAST\r\n\r\n12345678", "552 5.3.4 Message size exceeds fixed maximum message size"},
			{"NOOP\r\n", "250 2.0.0 Ok"},
		}},
		{"bad size syntax closes", nil, [][2]string{
			{"BDAT x\r\n", "501 5.5.4 Syntax: BDAT size [LAST]"},
		}},
		{"chunk larger than a message closes", func(o *Options) { o.MaxMessageSize = 20 }, [][2]string{
			{"BDAT 21\r\n", "552 5.3.4 Message size exceeds fixed maximum message size"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := baseOptions(newTestSpool(t))
			if tt.opts != nil {
				tt.opts(&opts)
			}
			ts := startServer(t, opts)
			c := dial(t, ts.addr, "")
			c.expect("220 mx.test ESMTP")
			c.send("EHLO client.test\r\n")
			c.reply()
			for _, st := range tt.steps {
				c.send(st[0])
				if got := c.reply(); got != st[1] {
					t.Fatalf("%q: reply\n got %q\nwant %q", st[0], got, st[1])
				}
			}
			if strings.Contains(tt.name, "closes") {
				c.closed()
			}
			if left := ts.spool.leftovers(t); len(left) != 0 {
				c.send("QUIT\r\n")
				c.reply()
				if left = ts.spool.leftovers(t); len(left) != 0 {
					t.Fatalf("drafts left: %v", left)
				}
			}
		})
	}
}
