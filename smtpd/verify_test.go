package smtpd

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/envelope"
)

// fakeVerifier answers from a table by address (default VerifyOK) and
// records the addresses it was asked about.
type fakeVerifier struct {
	answers map[string]Verification
	wait    time.Duration // answer only after this long, or when ctx ends
	mu      sync.Mutex
	asked   []string
}

func (f *fakeVerifier) VerifyRecipient(ctx context.Context, rcpt envelope.Address) Verification {
	f.mu.Lock()
	f.asked = append(f.asked, rcpt.Addr)
	f.mu.Unlock()
	if f.wait > 0 {
		select {
		case <-time.After(f.wait):
		case <-ctx.Done():
			return Verification{Err: context.Cause(ctx)}
		}
	}
	if v, ok := f.answers[rcpt.Addr]; ok {
		return v
	}
	return Verification{Status: VerifyOK, Code: 250}
}

func (f *fakeVerifier) calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.asked...)
}

var verifyAnswers = map[string]Verification{
	"unknown@example.org": {Status: VerifyRejected, Code: 550, Enhanced: "5.1.1",
		Text: "<unknown@example.org>: Recipient address rejected: User unknown in virtual mailbox table"},
	"disabled@example.org": {Status: VerifyRejected, Code: 550, Enhanced: "5.2.1", Text: "Mailbox disabled"},
	"badcode@example.org":  {Status: VerifyRejected, Code: 553, Enhanced: "4.1.1", Text: "no\r\nsuch\tuser \x00 h\u00e9"},
	"notext@example.org":   {Status: VerifyRejected, Code: 550},
	"busy@example.org":     {Status: VerifyTempFail, Code: 451, Enhanced: "4.3.0", Text: "try later"},
	"down@example.org":     {Status: VerifyTempFail, Err: errors.New("connection refused")},
}

// TestVerifyRecipients: the replies to RCPT for each verification result,
// under both error policies, from an untrusted client.
func TestVerifyRecipients(t *testing.T) {
	tests := []struct {
		policy VerifyErrorPolicy
		rcpt   string
		want   string
	}{
		{"", "known@example.org", "250 2.1.5 Ok"},
		{"", "unknown@example.org", "550 5.1.1 <unknown@example.org>: Recipient address rejected: User unknown in virtual mailbox table"},
		{"", "disabled@example.org", "550 5.2.1 Mailbox disabled"},
		{"", "badcode@example.org", "550 5.1.1 no such user ? h?"},
		{"", "notext@example.org", "550 5.1.1 <notext@example.org>: Recipient address rejected: User unknown"},
		{"", "busy@example.org", "450 4.1.1 <busy@example.org>: Recipient address verification failed, try again later"},
		{VerifyErrorTempfail, "down@example.org", "450 4.1.1 <down@example.org>: Recipient address verification failed, try again later"},
		{VerifyErrorAccept, "busy@example.org", "250 2.1.5 Ok"},
		{VerifyErrorAccept, "down@example.org", "250 2.1.5 Ok"},
		{VerifyErrorAccept, "unknown@example.org", "550 5.1.1 <unknown@example.org>: Recipient address rejected: User unknown in virtual mailbox table"},
	}
	for _, tt := range tests {
		fv := &fakeVerifier{answers: verifyAnswers}
		opts := baseOptions(newTestSpool(t))
		opts.RecipientVerifier, opts.VerifyOnError = fv, tt.policy
		ts := startServer(t, opts)
		c := dial(t, ts.addr, "127.0.0.2")
		c.expect("220 mx.test ESMTP")
		c.ehlo("client.test")
		c.do("MAIL FROM:<a@example.net>", "250 2.1.0 Ok")
		c.send("RCPT TO:<" + tt.rcpt + ">\r\n")
		if got := c.reply(); got != tt.want {
			t.Errorf("policy %q, RCPT %s: %q, want %q", tt.policy, tt.rcpt, got, tt.want)
		}
		c.do("QUIT", "221 2.0.0 Bye")
		if got := fv.calls(); !slices.Equal(got, []string{tt.rcpt}) {
			t.Errorf("policy %q, RCPT %s: verifier asked about %q", tt.policy, tt.rcpt, got)
		}
	}
}

// TestVerifyOnlyRelayDomains: a trusted client relaying to other domains
// is not verified, nor is a refused relay attempt or postmaster; the relay
// domains are, from trusted clients too (subdomain entries included).
func TestVerifyOnlyRelayDomains(t *testing.T) {
	fv := &fakeVerifier{answers: verifyAnswers}
	opts := baseOptions(newTestSpool(t))
	opts.RelayDomains = []string{"example.org", ".sub.example.net"}
	opts.RecipientVerifier = fv
	ts := startServer(t, opts)
	steps := []struct{ local, rcpt, want string }{
		{"127.0.0.1", "b@elsewhere.test", "250 2.1.5 Ok"},
		{"127.0.0.1", "unknown@example.org", "550 5.1.1 <unknown@example.org>: Recipient address rejected: User unknown in virtual mailbox table"},
		{"127.0.0.2", "b@elsewhere.test", "554 5.7.1 <b@elsewhere.test>: Relay access denied"},
		{"127.0.0.2", "postmaster", "250 2.1.5 Ok"},
		{"127.0.0.2", "b@a.sub.example.net", "250 2.1.5 Ok"},
		{"127.0.0.2", "known@Example.ORG.", "250 2.1.5 Ok"},
	}
	for _, st := range steps {
		c := dial(t, ts.addr, st.local)
		c.expect("220 mx.test ESMTP")
		c.ehlo("client.test")
		c.do("MAIL FROM:<a@example.net>", "250 2.1.0 Ok")
		c.send("RCPT TO:<" + st.rcpt + ">\r\n")
		if got := c.reply(); got != st.want {
			t.Errorf("from %s, RCPT %s: %q, want %q", st.local, st.rcpt, got, st.want)
		}
		c.do("QUIT", "221 2.0.0 Bye")
	}
	want := []string{"unknown@example.org", "b@a.sub.example.net", "known@Example.ORG."}
	if got := fv.calls(); !slices.Equal(got, want) {
		t.Errorf("verifier asked about %q, want %q", got, want)
	}
}

// TestVerifyBeforeFilters: a recipient the downstream refuses reaches the
// filter only as a rejected recipient (for a filter that asks for those),
// and the message goes to the known recipient alone.
func TestVerifyBeforeFilters(t *testing.T) {
	fv := &fakeVerifier{answers: verifyAnswers}
	f := &recFilter{}
	opts := baseOptions(newTestSpool(t))
	opts.RecipientVerifier, opts.Filter = fv, f
	ts := startServer(t, opts)
	c := dial(t, ts.addr, "127.0.0.2")
	c.expect("220 mx.test ESMTP")
	c.ehlo("client.test")
	c.do("MAIL FROM:<a@example.net>", "250 2.1.0 Ok")
	c.do("RCPT TO:<unknown@example.org>", "550 5.1.1 <unknown@example.org>: Recipient address rejected: User unknown in virtual mailbox table")
	c.do("RCPT TO:<known@example.org>", "250 2.1.5 Ok")
	c.do("DATA", "354 End data with <CR><LF>.<CR><LF>")
	c.send("Subject: t\r\n\r\nhi\r\n.\r\n")
	c.expect("250 2.0.0 Ok: queued as Q1")
	c.do("QUIT", "221 2.0.0 Bye")
	for _, e := range f.log() {
		if strings.Contains(e, "unknown@") {
			t.Errorf("filter saw %q", e)
		}
	}
	msgs := ts.spool.messages()
	if len(msgs) != 1 || len(msgs[0].Envelope.Recipients) != 1 || msgs[0].Envelope.Recipients[0].Addr != "known@example.org" {
		t.Fatalf("stored %+v", msgs)
	}
}

// TestVerifyTimeout: a verifier that does not answer within
// Timeouts.Verify is a temporary failure.
func TestVerifyTimeout(t *testing.T) {
	fv := &fakeVerifier{wait: time.Minute}
	opts := baseOptions(newTestSpool(t))
	opts.RecipientVerifier = fv
	opts.Timeouts.Verify = 50 * time.Millisecond
	ts := startServer(t, opts)
	c := dial(t, ts.addr, "127.0.0.2")
	c.expect("220 mx.test ESMTP")
	c.ehlo("client.test")
	c.do("MAIL FROM:<a@example.net>", "250 2.1.0 Ok")
	c.do("RCPT TO:<slow@example.org>", "450 4.1.1 <slow@example.org>: Recipient address verification failed, try again later")
	c.do("QUIT", "221 2.0.0 Bye")
}

func TestVerifyOnErrorOption(t *testing.T) {
	opts := baseOptions(newTestSpool(t))
	opts.VerifyOnError = "reject"
	if _, err := NewServer(opts); err == nil || err.Error() != `smtpd: unknown verify error policy "reject" (want tempfail or accept)` {
		t.Fatalf("NewServer: %v", err)
	}
}
