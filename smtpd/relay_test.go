package smtpd

import "testing"

// TestRelayControl: trusted_networks is 127.0.0.1/32 only; relay domains
// example.org and the subdomains of sub.example.net.
func TestRelayControl(t *testing.T) {
	tests := []struct {
		local, rcpt, want string
	}{
		{"127.0.0.2", "b@elsewhere.test", "554 5.7.1 <b@elsewhere.test>: Relay access denied"},
		{"127.0.0.2", "b@[192.0.2.1]", "554 5.7.1 <b@[192.0.2.1]>: Relay access denied"},
		{"127.0.0.2", "b@example.org", "250 2.1.5 Ok"},
		{"127.0.0.2", "b@EXAMPLE.ORG.", "250 2.1.5 Ok"},
		{"127.0.0.2", "b@sub.example.org", "554 5.7.1 <b@sub.example.org>: Relay access denied"},
		{"127.0.0.2", "b@a.sub.example.net", "250 2.1.5 Ok"},
		{"127.0.0.2", "b@sub.example.net", "554 5.7.1 <b@sub.example.net>: Relay access denied"},
		{"127.0.0.2", "b%elsewhere.test@example.org", "554 5.7.1 <b%elsewhere.test@example.org>: Relay access denied"},
		{"127.0.0.2", "elsewhere.test!b@example.org", "554 5.7.1 <elsewhere.test!b@example.org>: Relay access denied"},
		{"127.0.0.2", "\"b@elsewhere.test\"@example.org", "554 5.7.1 <\"b@elsewhere.test\"@example.org>: Relay access denied"},
		{"127.0.0.2", "postmaster", "250 2.1.5 Ok"},
		{"127.0.0.1", "b@elsewhere.test", "250 2.1.5 Ok"},
		{"127.0.0.1", "b%elsewhere.test@example.org", "250 2.1.5 Ok"},
	}
	opts := baseOptions(newTestSpool(t))
	opts.RelayDomains = []string{"Example.Org", ".sub.example.net"}
	ts := startServer(t, opts)
	for _, tt := range tests {
		c := dial(t, ts.addr, tt.local)
		c.expect("220 mx.test ESMTP")
		c.ehlo("client.test")
		c.do("MAIL FROM:<a@example.net>", "250 2.1.0 Ok")
		c.send("RCPT TO:<" + tt.rcpt + ">\r\n")
		if got := c.reply(); got != tt.want {
			t.Errorf("from %s, RCPT %s: %q, want %q", tt.local, tt.rcpt, got, tt.want)
		}
		c.do("QUIT", "221 2.0.0 Bye")
	}
	if ts.spool.messages() != nil {
		t.Fatal("messages stored")
	}
}

// TestOpenRelayEndToEnd: a whole transaction from an untrusted address
// to an unlisted domain stores nothing.
func TestOpenRelayEndToEnd(t *testing.T) {
	ts := startServer(t, baseOptions(newTestSpool(t)))
	c := dial(t, ts.addr, "127.0.0.2")
	c.expect("220 mx.test ESMTP")
	c.ehlo("client.test")
	c.do("MAIL FROM:<a@example.net>", "250 2.1.0 Ok")
	c.do("RCPT TO:<b@elsewhere.test>", "554 5.7.1 <b@elsewhere.test>: Relay access denied")
	c.do("DATA", "554 5.5.1 No valid recipients")
	c.send("BDAT 3 LAST\r\nx\r\n")
	c.expect("554 5.5.1 No valid recipients")
	c.do("QUIT", "221 2.0.0 Bye")
	if len(ts.spool.messages()) != 0 {
		t.Fatal("a message was stored")
	}
}
