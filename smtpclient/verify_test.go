package smtpclient

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/tls"
)

// verifyOnce runs one verification with the test's time limit.
func verifyOnce(t *testing.T, c *Client, rcpt string) (VerifyResult, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	return c.VerifyRecipient(ctx, envelope.Address{Addr: rcpt})
}

// TestVerifyCommands: the exact commands of two verifications, which share
// one connection, and the QUIT of Close.
func TestVerifyCommands(t *testing.T) {
	s := startScript(t, &scriptServer{ext: []string{"PIPELINING", "XCLIENT NAME ADDR"}, reply: func(line string) string {
		if line == "RCPT TO:<unknown@example.org>" {
			return "550 5.1.1 <unknown@example.org>: Recipient address rejected: User unknown"
		}
		return ""
	}})
	c := newClient(t, Options{Address: "smtp://" + s.Addr, TLS: tls.PolicyNone, XClient: true})
	res, err := verifyOnce(t, c, "known@example.org")
	if err != nil || res.Status != VerifyOK || res.Reply.String() != "250 2.0.0 ok" {
		t.Errorf("known: %v %q, %v", res.Status, res.Reply, err)
	}
	res, err = verifyOnce(t, c, "unknown@example.org")
	if err != nil || res.Status != VerifyRejected || res.Reply.String() != "550 5.1.1 <unknown@example.org>: Recipient address rejected: User unknown" {
		t.Errorf("unknown: %v %q, %v", res.Status, res.Reply, err)
	}
	c.Close()
	want := []string{"EHLO sluice.test",
		"MAIL FROM:<>", "RCPT TO:<known@example.org>", "RSET",
		"MAIL FROM:<>", "RCPT TO:<unknown@example.org>", "RSET", "QUIT"}
	if got := s.commands(0); !slices.Equal(got, want) || s.connCount() != 1 {
		t.Errorf("%d connections; commands\n%q\nwant\n%q", s.connCount(), got, want)
	}
}

// TestVerifyGoSMTP: against go-smtp, each class of reply, one session for
// all, and no message sent.
func TestVerifyGoSMTP(t *testing.T) {
	be := &gsBackend{rcpt: func(to string) error {
		switch {
		case strings.HasPrefix(to, "unknown@"):
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user here"}
		case strings.HasPrefix(to, "later@"):
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}
		}
		return nil
	}}
	addr, _ := startGoSMTP(t, be, "tcp", "", nil)
	c := newClient(t, Options{Address: "smtp://" + addr, TLS: tls.PolicyNone})
	tests := []struct {
		rcpt   string
		status VerifyStatus
		reply  string
	}{
		{"known@example.org", VerifyOK, "250 2.0.0 I'll make sure <known@example.org> gets this"},
		{"unknown@example.org", VerifyRejected, "550 5.1.1 no such user here"},
		{"later@example.org", VerifyTempFail, "451 4.3.0 try later"},
		{"known2@example.org", VerifyOK, "250 2.0.0 I'll make sure <known2@example.org> gets this"},
	}
	for _, tt := range tests {
		res, err := verifyOnce(t, c, tt.rcpt)
		if err != nil || res.Status != tt.status || res.Reply.String() != tt.reply {
			t.Errorf("%s: %v %q, %v; want %v %q", tt.rcpt, res.Status, res.Reply, err, tt.status, tt.reply)
		}
	}
	msgs, sessions, _, _ := be.snapshot()
	if len(msgs) != 0 || sessions != 1 {
		t.Errorf("%d messages, %d sessions; want 0 and 1", len(msgs), sessions)
	}
}

// TestVerifyFailures: no connection, a refused MAIL FROM:<>, a downstream
// that does not answer RCPT: VerifyTempFail with an error.
func TestVerifyFailures(t *testing.T) {
	c := newClient(t, Options{Address: "smtp://" + closedPort(t), TLS: tls.PolicyNone})
	res, err := verifyOnce(t, c, "a@example.org")
	if res.Status != VerifyTempFail || err == nil || !strings.Contains(err.Error(), "connect to") {
		t.Errorf("closed port: %v, %v", res.Status, err)
	}

	s := startScript(t, &scriptServer{reply: func(line string) string {
		switch {
		case line == "MAIL FROM:<>":
			return "553 5.7.1 no null senders"
		}
		return ""
	}})
	c = newClient(t, Options{Address: "smtp://" + s.Addr, TLS: tls.PolicyNone})
	res, err = verifyOnce(t, c, "a@example.org")
	if res.Status != VerifyTempFail || res.Reply.Code != 553 || err == nil || err.Error() != "smtpclient: verify <a@example.org>: no null senders (in reply to MAIL FROM:<>)" {
		t.Errorf("null sender refused: %v %q, %v", res.Status, res.Reply, err)
	}

	s = startScript(t, &scriptServer{reply: func(line string) string {
		if strings.HasPrefix(line, "RCPT") {
			return hang
		}
		return ""
	}})
	c = newClient(t, Options{Address: "smtp://" + s.Addr, TLS: tls.PolicyNone})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	res, err = c.VerifyRecipient(ctx, envelope.Address{Addr: "a@example.org"})
	if res.Status != VerifyTempFail || err == nil || !strings.Contains(err.Error(), "interrupted while sending RCPT TO") {
		t.Errorf("no answer: %v, %v", res.Status, err)
	}
}

// TestVerifyStaleConnection: a kept connection the downstream closed
// (421 to MAIL) is replaced once, transparently.
func TestVerifyStaleConnection(t *testing.T) {
	var mu sync.Mutex
	mails := 0
	s := startScript(t, &scriptServer{reply: func(line string) string {
		if line != "MAIL FROM:<>" {
			return ""
		}
		mu.Lock()
		defer mu.Unlock()
		if mails++; mails == 2 {
			return "421 4.4.2 idle too long"
		}
		return ""
	}})
	c := newClient(t, Options{Address: "smtp://" + s.Addr, TLS: tls.PolicyNone})
	for _, rcpt := range []string{"a@example.org", "b@example.org"} {
		if res, err := verifyOnce(t, c, rcpt); err != nil || res.Status != VerifyOK {
			t.Errorf("%s: %v, %v", rcpt, res.Status, err)
		}
	}
	want1 := []string{"EHLO sluice.test", "MAIL FROM:<>", "RCPT TO:<b@example.org>", "RSET"}
	if got := s.commands(1); s.connCount() != 2 || !slices.Equal(got, want1) {
		t.Errorf("%d connections; second: %q", s.connCount(), got)
	}
}

// TestVerifyNoReuse: with IdleTimeout < 0 each verification ends with QUIT.
func TestVerifyNoReuse(t *testing.T) {
	s := startScript(t, &scriptServer{})
	c := newClient(t, Options{Address: "smtp://" + s.Addr, TLS: tls.PolicyNone, IdleTimeout: -1})
	for range 2 {
		if res, err := verifyOnce(t, c, "a@example.org"); err != nil || res.Status != VerifyOK {
			t.Fatalf("%v, %v", res.Status, err)
		}
	}
	want := []string{"EHLO sluice.test", "MAIL FROM:<>", "RCPT TO:<a@example.org>", "RSET", "QUIT"}
	if s.connCount() != 2 || !slices.Equal(s.commands(0), want) || !slices.Equal(s.commands(1), want) {
		t.Errorf("%d connections: %q %q", s.connCount(), s.commands(0), s.commands(1))
	}
}
