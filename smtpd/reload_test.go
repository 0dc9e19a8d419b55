package smtpd

import (
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/filter"
)

// waitClosed waits, five seconds at most, for ch to be closed.
func waitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: not released within 5s", what)
	}
}

// isClosed reports whether ch is closed now.
func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// TestReloadNewSessions: after Reload, new sessions get the new relay
// domains, limits, host name and filter; a session opened before keeps
// the options it started with until it ends, and the replaced options
// are released only then.
func TestReloadNewSessions(t *testing.T) {
	first := &recFilter{}
	opts := baseOptions(newTestSpool(t))
	opts.Filter = first
	ts := startServer(t, opts)
	old := dial(t, ts.addr, "127.0.0.2")
	old.expect("220 mx.test ESMTP")
	old.ehlo("client.test")
	old.do("MAIL FROM:<a@example.net>", "250 2.1.0 Ok")

	second := &recFilter{rcpt: map[string]filter.Verdict{"c@example.org": filter.CustomReply(550, "5.7.1", "second filter")}}
	next := baseOptions(nil)
	next.Hostname = "mx2.test"
	next.RelayDomains = []string{"example.net"}
	next.MaxRecipients = 1
	next.Filter = second
	released, err := ts.Reload(next)
	if err != nil {
		t.Fatal(err)
	}
	if isClosed(released) {
		t.Fatal("the replaced options were released while a session uses them")
	}

	// The old session: example.org still relayed, example.net not, two
	// recipients allowed, the first filter.
	old.do("RCPT TO:<b@example.org>", "250 2.1.5 Ok")
	old.do("RCPT TO:<c@example.org>", "250 2.1.5 Ok")
	old.do("RCPT TO:<b@example.net>", "554 5.7.1 <b@example.net>: Relay access denied")

	cur := dial(t, ts.addr, "127.0.0.2")
	cur.expect("220 mx2.test ESMTP")
	cur.send("EHLO client.test\r\n")
	if r := cur.reply(); !strings.HasPrefix(r, "250-mx2.test\n") {
		t.Fatalf("EHLO reply %q, want the new host name", r)
	}
	cur.do("MAIL FROM:<a@example.net>", "250 2.1.0 Ok")
	cur.do("RCPT TO:<b@example.org>", "554 5.7.1 <b@example.org>: Relay access denied")
	cur.do("RCPT TO:<c@example.org>", "554 5.7.1 <c@example.org>: Relay access denied")
	cur.do("RCPT TO:<b@example.net>", "250 2.1.5 Ok")
	cur.do("RCPT TO:<d@example.net>", "452 4.5.3 Too many recipients")
	cur.do("QUIT", "221 2.0.0 Bye")

	if isClosed(released) {
		t.Fatal("the replaced options were released while the old session runs")
	}
	old.do("DATA", "354 End data with <CR><LF>.<CR><LF>")
	old.send("Subject: old\r\n\r\nbody\r\n.\r\n")
	old.expect("250 2.0.0 Ok: queued as Q1")
	old.do("QUIT", "221 2.0.0 Bye")
	waitClosed(t, released, "the first options")

	if got := strings.Join(first.log(), "\n"); strings.Count(got, "open") != 1 || !strings.Contains(got, "rcpt <c@example.org>") {
		t.Errorf("first filter saw:\n%s\nwant the old session only", got)
	}
	waitEvents(t, second, 6)
	if got := strings.Join(second.log(), "\n"); strings.Count(got, "open") != 1 || !strings.Contains(got, "rcpt <b@example.net>") {
		t.Errorf("second filter saw:\n%s\nwant the new session only", got)
	}
	if m := ts.spool.messages(); len(m) != 1 || len(m[0].Envelope.Recipients) != 2 {
		t.Fatalf("stored %+v, want the old session's message to two recipients", m)
	}
}

// TestReloadUnusedReleasedAtOnce: options no session uses are released
// when replaced; the spool given to NewServer stays.
func TestReloadUnusedReleasedAtOnce(t *testing.T) {
	ts := startServer(t, baseOptions(newTestSpool(t)))
	next := baseOptions(newTestSpool(t)) // another spool: ignored
	next.RelayDomains = []string{"example.net"}
	released, err := ts.Reload(next)
	if err != nil {
		t.Fatal(err)
	}
	if !isClosed(released) {
		t.Fatal("options no session used were not released at once")
	}
	c := dial(t, ts.addr, "127.0.0.2")
	c.expect("220 mx.test ESMTP")
	c.ehlo("client.test")
	if got := c.sendMessage("a@example.org", []string{"b@example.net"}, "Subject: x\r\n\r\n.\r\n"); got != "250 2.0.0 Ok: queued as Q1" {
		t.Fatalf("end of data: %q", got)
	}
	c.do("QUIT", "221 2.0.0 Bye")
	if n := len(ts.spool.messages()); n != 1 {
		t.Fatalf("the first spool has %d messages, want 1", n)
	}
	if n := len(next.Spool.(*testSpool).messages()); n != 0 {
		t.Fatalf("the spool given to Reload has %d messages, want 0", n)
	}
}

// TestReloadInvalid: options NewServer would refuse are refused and
// change nothing.
func TestReloadInvalid(t *testing.T) {
	ts := startServer(t, baseOptions(newTestSpool(t)))
	for _, tt := range []struct {
		name string
		edit func(*Options)
		want string
	}{
		{"host name", func(o *Options) { o.Hostname = "bad host" }, `smtpd: bad or missing host name "bad host"`},
		{"bare LF policy", func(o *Options) { o.BareLF = "allow" }, `smtpd: unknown bare LF policy "allow" (want reject or normalize)`},
		{"line length", func(o *Options) { o.MaxLineLength = 10 }, `smtpd: MaxLineLength 10 is below 80`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o := baseOptions(nil)
			o.RelayDomains = []string{"example.net"}
			tt.edit(&o)
			released, err := ts.Reload(o)
			if err == nil || err.Error() != tt.want || released != nil {
				t.Fatalf("Reload() = %v, %v; want nil, %q", released, err, tt.want)
			}
			c := dial(t, ts.addr, "127.0.0.2")
			c.expect("220 mx.test ESMTP")
			c.ehlo("client.test")
			c.do("MAIL FROM:<a@example.net>", "250 2.1.0 Ok")
			c.do("RCPT TO:<b@example.org>", "250 2.1.5 Ok")
			c.do("RCPT TO:<b@example.net>", "554 5.7.1 <b@example.net>: Relay access denied")
			c.do("QUIT", "221 2.0.0 Bye")
		})
	}
}

// TestReloadLimits: the connection limits of the new options admit new
// connections, counting the sessions already running.
func TestReloadLimits(t *testing.T) {
	ts := startServer(t, baseOptions(newTestSpool(t)))
	a := dial(t, ts.addr, "127.0.0.2")
	a.expect("220 mx.test ESMTP")
	next := baseOptions(nil)
	next.MaxConnectionsPerIP = 1
	if _, err := ts.Reload(next); err != nil {
		t.Fatal(err)
	}
	b := dial(t, ts.addr, "127.0.0.2")
	b.expect("421 4.7.0 mx.test Too many connections from your address, try again later")
	c := dial(t, ts.addr, "127.0.0.3")
	c.expect("220 mx.test ESMTP")
	next.MaxConnections = 2
	if _, err := ts.Reload(next); err != nil {
		t.Fatal(err)
	}
	d := dial(t, ts.addr, "127.0.0.4")
	d.expect("421 4.7.0 mx.test Too many connections, try again later")
	a.do("QUIT", "221 2.0.0 Bye")
	c.do("QUIT", "221 2.0.0 Bye")
}

// TestReloadResolver: a Resolver given by Reload names the clients of
// new sessions; taking it away stops the lookups.
func TestReloadResolver(t *testing.T) {
	f := &recFilter{}
	opts := baseOptions(newTestSpool(t))
	opts.Filter = f
	ts := startServer(t, opts)
	connect := func() string {
		t.Helper()
		before := len(f.log())
		c := dial(t, ts.addr, "127.0.0.1")
		c.expect("220 mx.test ESMTP")
		c.do("QUIT", "221 2.0.0 Bye")
		waitEvents(t, f, before+3)
		return f.log()[before+1]
	}
	if got := connect(); !strings.HasPrefix(got, "connect [127.0.0.1] ") {
		t.Errorf("without a resolver: %q", got)
	}
	next := opts
	next.Resolver = fakeResolver{}
	next.Timeouts.DNS = time.Second
	if _, err := ts.Reload(next); err != nil {
		t.Fatal(err)
	}
	if got := connect(); !strings.HasPrefix(got, "connect mail.example.test 127.0.0.1:") {
		t.Errorf("with a resolver: %q", got)
	}
	if _, err := ts.Reload(opts); err != nil {
		t.Fatal(err)
	}
	if got := connect(); !strings.HasPrefix(got, "connect [127.0.0.1] ") {
		t.Errorf("resolver taken away: %q", got)
	}
}
