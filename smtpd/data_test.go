package smtpd

import (
	"fmt"
	"strings"
	"testing"
)

// received is the Received field the server writes for a plain session
// from 127.0.0.1 that said EHLO client.test, for one recipient.
func received(id, rcpt string) string {
	return "Received: from client.test (unknown [127.0.0.1])\r\n" +
		"\tby mx.test (sluice) with ESMTP id " + id + "\r\n" +
		"\tfor <" + rcpt + ">; Sat, 14 Mar 2026 15:09:26 +0000\r\n"
}

func TestDataStoredExactly(t *testing.T) {
	ts := startServer(t, baseOptions(newTestSpool(t)))
	c := dial(t, ts.addr, "")
	c.expect("220 mx.test ESMTP")
	c.ehlo("client.test")
	content := "From: a@example.net\r\nSubject: hi\r\n  folded\r\n\r\nbody\r\n..dot\r\n.\r\n"
	if got := c.sendMessage("a@example.net", []string{"b@example.org"}, content); got != "250 2.0.0 Ok: queued as Q1" {
		t.Fatalf("end of data: %q", got)
	}
	msgs := ts.spool.messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	m := msgs[0]
	want := received("Q1", "b@example.org") + "From: a@example.net\r\nSubject: hi\r\n  folded\r\n\r\nbody\r\n.dot\r\n"
	if m.content() != want {
		t.Fatalf("content\n got %q\nwant %q", m.content(), want)
	}
	if m.Envelope.QueueID != "Q1" || m.Envelope.From.Addr != "a@example.net" || len(m.Envelope.Recipients) != 1 ||
		m.BodySize != int64(len("body\r\n.dot\r\n")) || !m.Arrived.Equal(testClock()) {
		t.Fatalf("message %+v", m.Message)
	}
	if m.Client.HELO != "client.test" || m.Client.Proto != "ESMTP" || m.Client.ClientAddr.Addr().String() != "127.0.0.1" {
		t.Fatalf("client %+v", m.Client)
	}
	// A second message on the same session, two recipients: no "for".
	if got := c.sendMessage("", []string{"b@example.org", "c@example.org"}, "Subject: x\r\n\r\n.\r\n"); got != "250 2.0.0 Ok: queued as Q2" {
		t.Fatalf("second message: %q", got)
	}
	m = ts.spool.messages()[1]
	wantHdr := "Received: from client.test (unknown [127.0.0.1])\r\n\tby mx.test (sluice) with ESMTP id Q2; Sat, 14 Mar 2026 15:09:26 +0000\r\nSubject: x\r\n\r\n"
	if string(m.Header) != wantHdr || len(m.Body) != 0 {
		t.Fatalf("second message %q + %q", m.Header, m.Body)
	}
	// SMTPUTF8: the protocol is UTF8SMTP.
	c.do("MAIL FROM:<ü@example.net> SMTPUTF8", "250 2.1.0 Ok")
	c.do("RCPT TO:<b@example.org>", "250 2.1.5 Ok")
	c.do("DATA", "354 End data with <CR><LF>.<CR><LF>")
	c.send(".\r\n")
	c.expect("250 2.0.0 Ok: queued as Q3")
	if h := string(ts.spool.messages()[2].Header); !strings.Contains(h, "\tby mx.test (sluice) with UTF8SMTP id Q3\r\n") {
		t.Fatalf("SMTPUTF8 header %q", h)
	}
	c.do("QUIT", "221 2.0.0 Bye")
}

func TestContentShapes(t *testing.T) {
	tests := []struct {
		name, data, want string
	}{
		{"empty", ".\r\n", "\r\n"},
		{"headers only", "Subject: x\r\n.\r\n", "Subject: x\r\n\r\n"},
		{"no header", "just text\r\n.\r\n", "\r\njust text\r\n"},
		{"body starts at a non-field line", "Subject: x\r\nnot a field\r\n.\r\n", "Subject: x\r\n\r\nnot a field\r\n"},
		{"space before the colon", "Subject : x\r\n\r\nb\r\n.\r\n", "Subject: x\r\n\r\nb\r\n"},
		{"leading dots", "..\r\n...x\r\n.y\r\n.\r\n", "\r\n.\r\n..x\r\ny\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, baseOptions(newTestSpool(t)))
			c := dial(t, ts.addr, "")
			c.expect("220 mx.test ESMTP")
			c.ehlo("client.test")
			if got := c.sendMessage("a@example.net", []string{"b@example.org"}, tt.data); got != "250 2.0.0 Ok: queued as Q1" {
				t.Fatalf("reply %q", got)
			}
			m := ts.spool.messages()[0]
			if got := strings.TrimPrefix(m.content(), received("Q1", "b@example.org")); got != tt.want {
				t.Fatalf("content after Received\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

// TestSmuggling sends, inside DATA, a line "." ended by something other
// than CRLF, followed by a second MAIL FROM, RCPT TO, DATA and message,
// then the real end. Exactly one message (normalize) or none (reject)
// must come out, never two, and what is stored holds no bare CR or LF.
func TestSmuggling(t *testing.T) {
	ends := []string{"\n.\n", "\r.\r", "\n.\r\n", "\r\n.\n", "\r\n.\r"}
	for _, policy := range []BareLFPolicy{BareLFReject, BareLFNormalize} {
		for _, end := range ends {
			t.Run(fmt.Sprintf("%s/%q", policy, end), func(t *testing.T) {
				opts := baseOptions(newTestSpool(t))
				opts.BareLF = policy
				ts := startServer(t, opts)
				c := dial(t, ts.addr, "")
				c.expect("220 mx.test ESMTP")
				c.ehlo("client.test")
				c.do("MAIL FROM:<a@example.net>", "250 2.1.0 Ok")
				c.do("RCPT TO:<b@example.org>", "250 2.1.5 Ok")
				c.do("DATA", "354 End data with <CR><LF>.<CR><LF>")
				c.send("Subject: first\r\n\r\nfirst body" + end +
					"MAIL FROM:<evil@example.net>\r\nRCPT TO:<victim@example.org>\r\nDATA\r\n" +
					"Subject: smuggled\r\n\r\nsmuggled\r\n.\r\n")
				want := "250 2.0.0 Ok: queued as Q1"
				if policy == BareLFReject {
					want = "550 5.6.0 Message contains a bare CR or LF; lines must end with CRLF (RFC 5321 section 2.3.8)"
				}
				c.expect(want)
				c.do("NOOP", "250 2.0.0 Ok") // in step: nothing was taken for a command
				c.do("QUIT", "221 2.0.0 Bye")
				msgs := ts.spool.messages()
				if policy == BareLFReject {
					if len(msgs) != 0 {
						t.Fatalf("%d messages stored", len(msgs))
					}
					return
				}
				if len(msgs) != 1 {
					t.Fatalf("%d messages stored", len(msgs))
				}
				checkClean(t, msgs[0].content())
				if !strings.Contains(string(msgs[0].Body), "MAIL FROM:<evil@example.net>\r\n") {
					t.Fatalf("the smuggled commands are not in the body: %q", msgs[0].Body)
				}
			})
		}
	}
}

// checkClean fails when s holds a CR or LF outside a CRLF pair.
func checkClean(t *testing.T, s string) {
	t.Helper()
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\r' && (i+1 == len(s) || s[i+1] != '\n'):
			t.Fatalf("bare CR at %d in %q", i, s)
		case s[i] == '\n' && (i == 0 || s[i-1] != '\r'):
			t.Fatalf("bare LF at %d in %q", i, s)
		}
	}
}

func TestNormalizeStoresCRLF(t *testing.T) {
	opts := baseOptions(newTestSpool(t))
	opts.BareLF = BareLFNormalize
	ts := startServer(t, opts)
	c := dial(t, ts.addr, "")
	c.expect("220 mx.test ESMTP")
	c.ehlo("client.test")
	got := c.sendMessage("a@example.net", []string{"b@example.org"}, "Subject: a\nX-B: b\r\n\r\none\rtwo\nthree\r\r\n.\r\n")
	if got != "250 2.0.0 Ok: queued as Q1" {
		t.Fatal(got)
	}
	m := ts.spool.messages()[0]
	want := received("Q1", "b@example.org") + "Subject: a\r\nX-B: b\r\n\r\none\r\ntwo\r\nthree\r\n\r\n"
	if m.content() != want {
		t.Fatalf("content\n got %q\nwant %q", m.content(), want)
	}
}

func TestContentLimits(t *testing.T) {
	tests := []struct {
		name string
		opts func(*Options)
		data string
		want string
	}{
		{"size", func(o *Options) { o.MaxMessageSize = 100 },
			"Subject: x\r\n\r\n" + strings.Repeat("0123456789\r\n", 10) + ".\r\n",
			"552 5.3.4 Message size exceeds fixed maximum message size"},
		{"size exactly", func(o *Options) { o.MaxMessageSize = 100 },
			"S: x\r\n\r\n" + strings.Repeat("0123456789\r\n", 7) + "012345\r\n.\r\n",
			"250 2.0.0 Ok: queued as Q1"},
		{"line", func(o *Options) {},
			"Subject: x\r\n\r\n" + strings.Repeat("x", 999) + "\r\n.\r\n",
			"500 5.6.0 Line longer than 1000 octets (RFC 5321 section 4.5.3.1.6)"},
		{"line exactly", func(o *Options) {},
			"Subject: x\r\n\r\n" + strings.Repeat("x", 998) + "\r\n.\r\n",
			"250 2.0.0 Ok: queued as Q1"},
		{"header section", func(o *Options) { o.MaxHeaderBytes = 1024 },
			strings.Repeat("X-Pad: "+strings.Repeat("p", 90)+"\r\n", 11) + "\r\nbody\r\n.\r\n",
			"552 5.3.4 Message header section too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := baseOptions(newTestSpool(t))
			tt.opts(&opts)
			ts := startServer(t, opts)
			c := dial(t, ts.addr, "")
			c.expect("220 mx.test ESMTP")
			c.send("EHLO client.test\r\n")
			c.reply()
			if got := c.sendMessage("a@example.net", []string{"b@example.org"}, tt.data); got != tt.want {
				t.Fatalf("reply %q, want %q", got, tt.want)
			}
			c.do("NOOP", "250 2.0.0 Ok")
			if left := ts.spool.leftovers(t); len(left) != 0 {
				t.Fatalf("drafts left behind: %v", left)
			}
		})
	}
}

func TestPipelining(t *testing.T) {
	ts := startServer(t, baseOptions(newTestSpool(t)))
	c := dial(t, ts.addr, "")
	c.expect("220 mx.test ESMTP")
	c.send("EHLO client.test\r\nMAIL FROM:<a@example.net>\r\nRCPT TO:<b@example.org>\r\nRCPT TO:<x y>\r\nRCPT TO:<c@example.org>\r\nDATA\r\n")
	c.expect(ehloReply)
	c.expect("250 2.1.0 Ok")
	c.expect("250 2.1.5 Ok")
	c.expect("501 5.1.3 Bad recipient address syntax; use RCPT TO:<address>")
	c.expect("250 2.1.5 Ok")
	c.expect("354 End data with <CR><LF>.<CR><LF>")
	c.send("Subject: p\r\n\r\nx\r\n.\r\nRSET\r\nMAIL FROM:<a@example.net>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n")
	c.expect("250 2.0.0 Ok: queued as Q1")
	c.expect("250 2.0.0 Ok")
	c.expect("250 2.1.0 Ok")
	c.expect("250 2.1.5 Ok")
	c.expect("354 End data with <CR><LF>.<CR><LF>")
	c.send(".\r\nQUIT\r\n")
	c.expect("250 2.0.0 Ok: queued as Q2")
	c.expect("221 2.0.0 Bye")
	if n := len(ts.spool.messages()); n != 2 {
		t.Fatalf("%d messages", n)
	}
	if r := ts.spool.messages()[0].Envelope.Recipients; len(r) != 2 {
		t.Fatalf("recipients %v", r)
	}
}
