package smtpd

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/filter"
)

// recObserver records the observer's calls as strings.
type recObserver struct {
	mu     sync.Mutex
	events []string
}

func (o *recObserver) add(format string, args ...any) {
	o.mu.Lock()
	o.events = append(o.events, fmt.Sprintf(format, args...))
	o.mu.Unlock()
}

func (o *recObserver) ConnectionOpened()                 { o.add("opened") }
func (o *recObserver) ConnectionRefused(r RefusalReason) { o.add("refused %s", r) }
func (o *recObserver) ConnectionClosed()                 { o.add("closed") }
func (o *recObserver) RecipientRejected(code int)        { o.add("rcpt rejected %d", code) }
func (o *recObserver) Message(m MessageOutcome) {
	o.add("message %s code=%d size=%d rcpts=%d", m.Result, m.Code, m.Size, m.Rcpts)
}

func (o *recObserver) log() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.events)
}

// waitFor polls until the observer has n events (the session's end is
// reported after the client saw the last reply), for at most 5s.
func (o *recObserver) waitFor(t *testing.T, n int) []string {
	t.Helper()
	for i := 0; i < 500; i++ {
		if ev := o.log(); len(ev) >= n {
			return ev
		}
		time.Sleep(10 * time.Millisecond)
	}
	return o.log()
}

// TestObserverSession scripts one session with every message outcome and
// both kinds of refused recipient, and checks the exact events.
func TestObserverSession(t *testing.T) {
	obs := &recObserver{}
	sp := newTestSpool(t)
	opts := baseOptions(sp)
	opts.Observer = obs
	opts.Filter = &recFilter{rcpt: map[string]filter.Verdict{
		"filtered@example.org": filter.Reject,
		"drop@example.org":     filter.Discard,
	}}
	ts := startServer(t, opts)
	c := dial(t, ts.addr, "127.0.0.2") // not trusted: relay control applies
	c.expect("220 mx.test ESMTP")
	c.ehlo("client.test")

	c.do("MAIL FROM:<a@example.net>", "250 2.1.0 Ok")
	c.do("RCPT TO:<b@example.org>", "250 2.1.5 Ok")
	c.do("RCPT TO:<x@other.test>", "554 5.7.1 <x@other.test>: Relay access denied")
	c.send("RCPT TO:<filtered@example.org>\r\n")
	filtered := c.reply()
	c.do("DATA", "354 End data with <CR><LF>.<CR><LF>")
	c.send("Subject: one\r\n\r\nbody\r\n.\r\n")
	c.expect("250 2.0.0 Ok: queued as Q1")

	if r := c.sendMessage("a@example.net", []string{"b@example.org"}, "Subject: two\r\n\r\nbare\nLF\r\n.\r\n"); !strings.HasPrefix(r, "550 ") {
		t.Fatalf("bare LF message: %q", r)
	}
	sp.setErrs(nil, nil, errors.New("disk on fire"))
	if r := c.sendMessage("a@example.net", []string{"b@example.org"}, "Subject: three\r\n\r\nx\r\n.\r\n"); !strings.HasPrefix(r, "451 ") {
		t.Fatalf("failed commit: %q", r)
	}
	sp.setErrs(nil, nil, nil)
	if r := c.sendMessage("a@example.net", []string{"drop@example.org"}, "Subject: four\r\n\r\nx\r\n.\r\n"); !strings.HasPrefix(r, "250 ") {
		t.Fatalf("discarded message: %q", r)
	}
	c.do("QUIT", "221 2.0.0 Bye")

	msgs := sp.messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages stored, want 1", len(msgs))
	}
	size := len(msgs[0].content())
	var fcode int
	if _, err := fmt.Sscanf(filtered, "%d ", &fcode); err != nil || fcode < 500 {
		t.Fatalf("filtered recipient: %q", filtered)
	}
	want := []string{
		"opened",
		"rcpt rejected 554",
		fmt.Sprintf("rcpt rejected %d", fcode),
		fmt.Sprintf("message queued code=0 size=%d rcpts=1", size),
		"message rejected code=550 size=0 rcpts=0",
		"message tempfailed code=451 size=0 rcpts=0",
		"message discarded code=0 size=0 rcpts=0",
		"closed",
	}
	if got := obs.waitFor(t, len(want)); !slices.Equal(got, want) {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestObserverRefusals checks the refused connections: the server full,
// and too many from one address; neither counts as opened or closed.
func TestObserverRefusals(t *testing.T) {
	tests := []struct {
		name  string
		opts  func(*Options)
		local string // the second client's address
		want  string
	}{
		{"full", func(o *Options) { o.MaxConnections = 1 }, "127.0.0.3",
			"421 4.7.0 mx.test Too many connections, try again later"},
		{"per ip", func(o *Options) { o.MaxConnectionsPerIP = 1 }, "127.0.0.2",
			"421 4.7.0 mx.test Too many connections from your address, try again later"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obs := &recObserver{}
			opts := baseOptions(newTestSpool(t))
			opts.Observer = obs
			tt.opts(&opts)
			ts := startServer(t, opts)
			a := dial(t, ts.addr, "127.0.0.2")
			a.expect("220 mx.test ESMTP")
			b := dial(t, ts.addr, tt.local)
			b.expect(tt.want)
			b.closed()
			a.do("QUIT", "221 2.0.0 Bye")
			reason := map[string]string{"full": "max_connections", "per ip": "max_connections_per_ip"}[tt.name]
			want := []string{"opened", "refused " + reason, "closed"}
			if got := obs.waitFor(t, 3); !slices.Equal(got, want) {
				t.Errorf("events %q, want %q", got, want)
			}
		})
	}
}

// TestObserverKeptOnReload: Reload keeps the observer of NewServer.
func TestObserverKeptOnReload(t *testing.T) {
	obs := &recObserver{}
	opts := baseOptions(newTestSpool(t))
	opts.Observer = obs
	ts := startServer(t, opts)
	next := baseOptions(newTestSpool(t))
	next.Hostname = "mx2.test"
	if _, err := ts.Reload(next); err != nil {
		t.Fatal(err)
	}
	c := dial(t, ts.addr, "")
	c.expect("220 mx2.test ESMTP")
	c.send("QUIT\r\n")
	c.reply()
	if got, want := obs.waitFor(t, 2), []string{"opened", "closed"}; !slices.Equal(got, want) {
		t.Errorf("events %q, want %q", got, want)
	}
}
