package smtpclient

import (
	"context"
	"crypto/x509"
	"errors"
	"io"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/tls"
)

// The tests in this file use go-smtp's server as the downstream. Its DATA
// reader keeps every byte except the dot-stuffing, so what it stores is
// exactly what the client sent.

func TestGoSMTPExactBytes(t *testing.T) {
	be := &gsBackend{}
	addr, _ := startGoSMTP(t, be, "tcp", "", nil)
	c := newClient(t, Options{Address: "smtp://" + addr, TLS: tls.PolicyNone})
	tests := []struct{ name, content, want string }{
		{"CRLF and dots", testContent, testContent},
		{"bare LF", "Subject: x\n\nline\n.\nend", "Subject: x\r\n\r\nline\r\n.\r\nend\r\n"},
		{"bare CR", "Subject: x\r\rline\r.hidden\rend\r\n", "Subject: x\r\n\r\nline\r\n.hidden\r\nend\r\n"},
		{"smuggled end of data", "a\r\n\n.\r\nMAIL FROM:<x@y>\r\n", "a\r\n\r\n.\r\nMAIL FROM:<x@y>\r\n"},
		{"8-bit", "Subject: caf\xc3\xa9\r\n\r\n\x80\xff\r\n", "Subject: caf\xc3\xa9\r\n\r\n\x80\xff\r\n"},
	}
	for i, tt := range tests {
		res := deliver(t, c, message("a@example.org", []string{"b@example.net"}, tt.content))
		wantResult(t, res[0], envelope.Delivered, 250, "2.0.0", "OK: queued")
		msgs, _, _, _ := be.snapshot()
		if len(msgs) != i+1 || string(msgs[i].Data) != tt.want {
			t.Errorf("%s: server got %q, want %q", tt.name, msgs[len(msgs)-1].Data, tt.want)
		}
	}
}

func TestGoSMTPParams(t *testing.T) {
	from := envelope.Address{Addr: "a@example.org", Params: []envelope.Param{
		{Key: "SIZE", Value: "1"}, {Key: "SMTPUTF8"}, {Key: "BODY", Value: "8BITMIME"}, {Key: "RET", Value: "HDRS"},
		{Key: "ENVID", Value: "QQ+2B1"}, {Key: "AUTH", Value: "<>"}, {Key: "X-UNKNOWN", Value: "1"}}}
	to := envelope.Address{Addr: "b@example.net", Params: []envelope.Param{
		{Key: "NOTIFY", Value: "SUCCESS,DELAY"}, {Key: "ORCPT", Value: "rfc822;b+2Bx@example.net"}, {Key: "X-OTHER"}}}
	tests := []struct {
		name      string
		dsn, utf8 bool
		wantMail  string
		wantRcpt  string
	}{
		{"DSN and SMTPUTF8 offered", true, true,
			"MAIL FROM:<a@example.org> SIZE=%d SMTPUTF8 BODY=8BITMIME RET=HDRS ENVID=QQ+2B1",
			"RCPT TO:<b@example.net> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;b+2Bx@example.net"},
		{"neither offered: dropped, ASCII message goes without SMTPUTF8", false, false,
			"MAIL FROM:<a@example.org> SIZE=%d BODY=8BITMIME", "RCPT TO:<b@example.net>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			be := &gsBackend{}
			addr, debug := startGoSMTP(t, be, "tcp", "", func(s *smtp.Server) {
				s.EnableDSN, s.EnableSMTPUTF8, s.MaxMessageBytes = tt.dsn, tt.utf8, 1<<20
			})
			c := newClient(t, Options{Address: "smtp://" + addr, TLS: tls.PolicyNone})
			m := message(from.Addr, nil, testContent)
			m.From, m.To = from, []envelope.Address{to}
			wantResult(t, deliver(t, c, m)[0], envelope.Delivered, 250, "2.0.0", "OK")
			log := debug.String()
			for _, want := range []string{strings.Replace(tt.wantMail, "%d", itoa(len(testContent)), 1), tt.wantRcpt} {
				if !strings.Contains(log, want+"\r\n") {
					t.Errorf("server did not see %q in:\n%s", want, log)
				}
			}
			msgs, _, _, _ := be.snapshot()
			got := msgs[0]
			if tt.dsn && (got.Mail.Return != smtp.DSNReturnHeaders || got.Mail.EnvelopeID != "QQ+1" ||
				len(got.Rcpt[0].Notify) != 2 || got.Rcpt[0].OriginalRecipient != "b+x@example.net") {
				t.Errorf("DSN parameters as parsed: %+v %+v", got.Mail, got.Rcpt[0])
			}
			if got.Mail.UTF8 != tt.utf8 || got.Mail.Body != smtp.Body8BitMIME || got.Mail.Auth != nil {
				t.Errorf("MAIL options %+v", got.Mail)
			}
		})
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestGoSMTPNeedsSMTPUTF8: a message that declared SMTPUTF8 and has a
// non-ASCII address or header fails cleanly when the downstream lacks
// SMTPUTF8; nothing is sent.
func TestGoSMTPNeedsSMTPUTF8(t *testing.T) {
	be := &gsBackend{}
	addr, debug := startGoSMTP(t, be, "tcp", "", nil)
	c := newClient(t, Options{Address: "smtp://" + addr, TLS: tls.PolicyNone})
	tests := []struct{ name, from, to, content string }{
		{"sender", "j\xc3\xb6rg@example.org", "b@example.net", testContent},
		{"recipient", "a@example.org", "b@b\xc3\xbccher.example", testContent},
		{"header", "a@example.org", "b@example.net", "Subject: gr\xc3\xbc\xc3\x9fe\r\n\r\nbody\r\n"},
	}
	for _, tt := range tests {
		m := message(tt.from, []string{tt.to}, tt.content)
		m.From.Params = []envelope.Param{{Key: "SMTPUTF8"}}
		wantResult(t, deliver(t, c, m)[0], envelope.Failed, 553, "5.6.7", "message needs SMTPUTF8")
	}
	if strings.Contains(debug.String(), "MAIL FROM") {
		t.Errorf("MAIL was sent:\n%s", debug.String())
	}
	// Only the body is 8-bit: no need for SMTPUTF8.
	m := message("a@example.org", []string{"b@example.net"}, "Subject: plain\r\n\r\nb\xc3\xbcro\r\n")
	m.From.Params = []envelope.Param{{Key: "SMTPUTF8"}}
	wantResult(t, deliver(t, c, m)[0], envelope.Delivered, 250, "2.0.0", "OK")
}

func TestGoSMTPSizeLimit(t *testing.T) {
	be := &gsBackend{}
	addr, debug := startGoSMTP(t, be, "tcp", "", func(s *smtp.Server) { s.MaxMessageBytes = 100 })
	c := newClient(t, Options{Address: "smtp://" + addr, TLS: tls.PolicyNone})
	res := deliver(t, c, message("a@example.org", []string{"b@example.net", "c@example.net"}, testContent+testContent))
	for _, r := range res {
		wantResult(t, r, envelope.Failed, 552, "5.3.4", "message size 222 exceeds the size limit 100 of "+addr)
		if r.Remote != addr {
			t.Errorf("Remote %q", r.Remote)
		}
	}
	if strings.Contains(debug.String(), "MAIL FROM") {
		t.Errorf("MAIL was sent:\n%s", debug.String())
	}
	small := "Subject: s\r\n\r\nsmall\r\n"
	wantResult(t, deliver(t, c, message("a@example.org", []string{"b@example.net"}, small))[0], envelope.Delivered, 250, "2.0.0", "OK")
	if !strings.Contains(debug.String(), "MAIL FROM:<a@example.org> BODY=8BITMIME SIZE=21\r\n") &&
		!strings.Contains(debug.String(), "MAIL FROM:<a@example.org> SIZE=21\r\n") {
		t.Errorf("no SIZE=21 in:\n%s", debug.String())
	}
}

// TestGoSMTPRecipientReplies: go-smtp offers PIPELINING, so the RCPT
// replies come back for a pipelined group.
func TestGoSMTPRecipientReplies(t *testing.T) {
	be := &gsBackend{rcpt: func(to string) error {
		switch {
		case strings.HasPrefix(to, "bad"):
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
		case strings.HasPrefix(to, "later"):
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}
		}
		return nil
	}}
	addr, _ := startGoSMTP(t, be, "tcp", "", nil)
	c := newClient(t, Options{Address: "smtp://" + addr, TLS: tls.PolicyNone})
	res := deliver(t, c, message("a@example.org", []string{"ok1@x.test", "bad@x.test", "later@x.test", "ok2@x.test"}, testContent))
	wantResult(t, res[0], envelope.Delivered, 250, "2.0.0", "OK: queued")
	wantResult(t, res[1], envelope.Failed, 550, "5.1.1", "no such user (in reply to RCPT TO)")
	wantResult(t, res[2], envelope.Deferred, 451, "4.3.0", "try later (in reply to RCPT TO)")
	wantResult(t, res[3], envelope.Delivered, 250, "2.0.0", "OK: queued")
	// No recipient accepted: no content is sent, the connection stays usable.
	res = deliver(t, c, message("a@example.org", []string{"bad1@x.test", "later@x.test"}, testContent))
	wantResult(t, res[0], envelope.Failed, 550, "5.1.1", "no such user")
	wantResult(t, res[1], envelope.Deferred, 451, "4.3.0", "try later")
	wantResult(t, deliver(t, c, message("a@example.org", []string{"ok3@x.test"}, testContent))[0], envelope.Delivered, 250, "2.0.0", "OK")
	msgs, sessions, _, _ := be.snapshot()
	if len(msgs) != 2 || strings.Join(msgs[0].To, ",") != "ok1@x.test,ok2@x.test" || strings.Join(msgs[1].To, ",") != "ok3@x.test" || sessions != 1 {
		t.Errorf("%d messages, %d sessions: %+v", len(msgs), sessions, msgs)
	}
}

// TestGoSMTPManyRecipients: more recipients than one pipelined group
// holds; every 7th is refused.
func TestGoSMTPManyRecipients(t *testing.T) {
	be := &gsBackend{rcpt: func(to string) error {
		if strings.HasPrefix(to, "no") {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
		}
		return nil
	}}
	addr, _ := startGoSMTP(t, be, "tcp", "", func(s *smtp.Server) { s.MaxRecipients = 1000 })
	c := newClient(t, Options{Address: "smtp://" + addr, TLS: tls.PolicyNone})
	var to, want []string
	for i := range 3*maxPipelineGroup + 7 {
		prefix := "ok"
		if i%7 == 0 {
			prefix = "no"
		} else {
			want = append(want, prefix+itoa(i)+"@x.test")
		}
		to = append(to, prefix+itoa(i)+"@x.test")
	}
	for i, r := range deliver(t, c, message("a@example.org", to, testContent)) {
		if i%7 == 0 {
			wantResult(t, r, envelope.Failed, 550, "5.1.1", "no such user")
		} else {
			wantResult(t, r, envelope.Delivered, 250, "2.0.0", "OK")
		}
	}
	msgs, _, _, _ := be.snapshot()
	if len(msgs) != 1 || strings.Join(msgs[0].To, ",") != strings.Join(want, ",") {
		t.Errorf("server got %d messages", len(msgs))
	}
}

// TestGoSMTPRetry: a 4xx to the message defers it; the next attempt, on
// the same connection, delivers it once.
func TestGoSMTPRetry(t *testing.T) {
	be := &gsBackend{data: func(n int) error {
		if n == 1 {
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "queue busy"}
		}
		return nil
	}}
	addr, _ := startGoSMTP(t, be, "tcp", "", nil)
	c := newClient(t, Options{Address: "smtp://" + addr, TLS: tls.PolicyNone})
	m := message("a@example.org", []string{"b@example.net", "c@example.net"}, testContent)
	for _, r := range deliver(t, c, m) {
		wantResult(t, r, envelope.Deferred, 451, "4.3.0", "queue busy (in reply to end of data)")
	}
	for _, r := range deliver(t, c, m) {
		wantResult(t, r, envelope.Delivered, 250, "2.0.0", "OK: queued")
	}
	msgs, sessions, _, _ := be.snapshot()
	if len(msgs) != 1 || string(msgs[0].Data) != testContent || sessions != 1 {
		t.Errorf("%d messages over %d sessions", len(msgs), sessions)
	}
}

func TestGoSMTPConnectionReuse(t *testing.T) {
	tests := []struct {
		name         string
		maxPerConn   int
		idle         time.Duration
		pause        time.Duration
		wantSessions int
	}{
		{"reused", 0, 0, 0, 1},
		{"two per connection", 2, 0, 0, 3},
		{"reuse off", 0, -1, 0, 5},
		{"idle connections expire", 0, 100 * time.Millisecond, 300 * time.Millisecond, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			be := &gsBackend{}
			addr, debug := startGoSMTP(t, be, "tcp", "", nil)
			c := newClient(t, Options{Address: "smtp://" + addr, TLS: tls.PolicyNone, MaxMessagesPerConn: tt.maxPerConn, IdleTimeout: tt.idle})
			for range 5 {
				wantResult(t, deliver(t, c, message("a@example.org", []string{"b@example.net"}, testContent))[0],
					envelope.Delivered, 250, "2.0.0", "OK")
				time.Sleep(tt.pause)
			}
			msgs, sessions, _, _ := be.snapshot()
			if len(msgs) != 5 || sessions != tt.wantSessions {
				t.Errorf("%d messages over %d sessions, want 5 over %d", len(msgs), sessions, tt.wantSessions)
			}
			if rsets := strings.Count(debug.String(), "RSET\r\n"); rsets != 5-tt.wantSessions {
				t.Errorf("%d RSETs, want %d", rsets, 5-tt.wantSessions)
			}
			_ = c.Close()
			waitFor(t, func() bool { _, _, active, _ := be.snapshot(); return active == 0 })
			if quits := strings.Count(debug.String(), "QUIT\r\n"); quits != tt.wantSessions {
				t.Errorf("%d QUITs, want %d", quits, tt.wantSessions)
			}
		})
	}
}

// waitFor polls cond until it holds, failing the test after testTimeout.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestGoSMTPMaxConnections(t *testing.T) {
	be := &gsBackend{dataWait: func() { time.Sleep(50 * time.Millisecond) }}
	addr, _ := startGoSMTP(t, be, "tcp", "", nil)
	c := newClient(t, Options{Address: "smtp://" + addr, TLS: tls.PolicyNone, MaxConnections: 2})
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := c.Deliver(context.Background(), message("a@example.org", []string{"b" + itoa(i) + "@example.net"}, testContent))
			if res[0].Status != envelope.Delivered {
				t.Errorf("message %d: %+v", i, res[0])
			}
		}()
	}
	wg.Wait()
	msgs, sessions, _, maxActive := be.snapshot()
	if len(msgs) != 12 || maxActive > 2 || sessions > 2 {
		t.Errorf("%d messages, %d sessions, %d at once; want 12, at most 2, at most 2", len(msgs), sessions, maxActive)
	}
}

func TestGoSMTPStartTLS(t *testing.T) {
	cert, err := tls.SelfSigned("gosmtp.test")
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert.Leaf)
	other, _ := tls.SelfSigned("gosmtp.test")
	otherRoots := x509.NewCertPool()
	otherRoots.AddCert(other.Leaf)
	serverTLS := func(s *smtp.Server) { s.TLSConfig = tlsServerConfig(cert) }
	tests := []struct {
		name    string
		server  func(*smtp.Server)
		opts    Options
		wantTLS bool
		status  envelope.Status
		text    string
	}{
		{"opportunistic", serverTLS, Options{TLS: tls.PolicyOpportunistic}, true, envelope.Delivered, "OK"},
		{"required", serverTLS, Options{TLS: tls.PolicyRequired}, true, envelope.Delivered, "OK"},
		{"verify", serverTLS, Options{TLS: tls.PolicyVerify, TLSServerName: "gosmtp.test", TLSRoots: roots}, true, envelope.Delivered, "OK"},
		{"none", serverTLS, Options{TLS: tls.PolicyNone}, false, envelope.Delivered, "OK"},
		{"verify fails", serverTLS, Options{TLS: tls.PolicyVerify, TLSServerName: "gosmtp.test", TLSRoots: otherRoots}, false, envelope.Deferred, "TLS handshake failed"},
		{"verify, wrong name", serverTLS, Options{TLS: tls.PolicyVerify, TLSServerName: "other.test", TLSRoots: roots}, false, envelope.Deferred, "TLS handshake failed"},
		{"opportunistic falls back to plaintext", func(s *smtp.Server) { s.TLSConfig = tlsServerConfig(other); s.TLSConfig.MaxVersion = 0x0301 },
			Options{TLS: tls.PolicyOpportunistic}, false, envelope.Delivered, "OK"},
		{"required does not fall back", func(s *smtp.Server) { s.TLSConfig = tlsServerConfig(other); s.TLSConfig.MaxVersion = 0x0301 },
			Options{TLS: tls.PolicyRequired}, false, envelope.Deferred, "TLS handshake failed"},
		{"required, not offered", nil, Options{TLS: tls.PolicyRequired}, false, envelope.Deferred, "did not offer STARTTLS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			be := &gsBackend{}
			addr, _ := startGoSMTP(t, be, "tcp", "", tt.server)
			tt.opts.Address = "smtp://" + addr
			c := newClient(t, tt.opts)
			r := deliver(t, c, message("a@example.org", []string{"b@example.net"}, testContent))[0]
			if r.Status != tt.status || !strings.Contains(r.Text, tt.text) {
				t.Fatalf("result %+v, want %s containing %q", r, tt.status, tt.text)
			}
			msgs, _, _, _ := be.snapshot()
			if tt.status == envelope.Delivered && (len(msgs) != 1 || msgs[0].TLS != tt.wantTLS) {
				t.Errorf("messages %+v, want one with TLS %v", msgs, tt.wantTLS)
			}
			if tt.status != envelope.Delivered && len(msgs) != 0 {
				t.Errorf("a message was delivered: %+v", msgs)
			}
		})
	}
}

func TestGoSMTPAuth(t *testing.T) {
	cert, err := tls.SelfSigned("gosmtp.test")
	if err != nil {
		t.Fatal(err)
	}
	check := func(user, pass string) error {
		if user == "alice" && pass == "s3cret" {
			return nil
		}
		return errors.New("bad credentials")
	}
	withTLS := func(s *smtp.Server) { s.TLSConfig = tlsServerConfig(cert) }
	insecure := func(s *smtp.Server) { s.AllowInsecureAuth = true }
	tests := []struct {
		name     string
		server   func(*smtp.Server)
		policy   tls.Policy
		auth     Auth
		status   envelope.Status
		code     int
		enhanced string
		text     string
	}{
		{"PLAIN over TLS", withTLS, tls.PolicyOpportunistic, Auth{Username: "alice", Password: "s3cret"}, envelope.Delivered, 250, "2.0.0", "OK"},
		{"LOGIN over TLS", withTLS, tls.PolicyRequired, Auth{Username: "alice", Password: "s3cret", Mechanism: "LOGIN"}, envelope.Delivered, 250, "2.0.0", "OK"},
		{"wrong password", withTLS, tls.PolicyOpportunistic, Auth{Username: "alice", Password: "nope"}, envelope.Deferred, 454, "4.7.0", "bad credentials (in reply to AUTH PLAIN)"},
		{"no TLS: password kept back", insecure, tls.PolicyNone, Auth{Username: "alice", Password: "s3cret"}, envelope.Deferred, 0, "4.7.0", "is not encrypted"},
		{"no TLS, explicitly allowed", insecure, tls.PolicyNone, Auth{Username: "alice", Password: "s3cret", AllowInsecure: true}, envelope.Delivered, 250, "2.0.0", "OK"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			be := &gsBackend{auth: check}
			addr, debug := startGoSMTP(t, be, "tcp", "", tt.server)
			auth := tt.auth
			c := newClient(t, Options{Address: "smtp://" + addr, TLS: tt.policy, Auth: &auth, Trace: true})
			m := message("a@example.org", []string{"b@example.net"}, testContent)
			m.From.Params = []envelope.Param{{Key: "AUTH", Value: "<>"}}
			wantResult(t, deliver(t, c, m)[0], tt.status, tt.code, tt.enhanced, tt.text)
			msgs, _, _, _ := be.snapshot()
			if tt.status == envelope.Delivered {
				if len(msgs) != 1 || msgs[0].AuthUser != "alice" || msgs[0].Mail.Auth == nil || *msgs[0].Mail.Auth != "" {
					t.Errorf("messages %+v", msgs)
				}
			}
			if tt.auth.AllowInsecure && !strings.Contains(debug.String(), "\r\nAUTH PLAIN AGFsaWNlAHMzY3JldA==\r\n") {
				t.Errorf("AUTH PLAIN not seen in:\n%s", debug.String())
			}
		})
	}
}

func TestGoSMTPLMTP(t *testing.T) {
	be := &gsBackend{
		rcpt: func(to string) error {
			if strings.HasPrefix(to, "norcpt") {
				return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "unknown user"}
			}
			return nil
		},
		lmtp: func(rcpt string) error {
			switch {
			case strings.HasPrefix(rcpt, "full"):
				return &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 2, 2}, Message: "mailbox full"}
			case strings.HasPrefix(rcpt, "gone"):
				return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 2, 1}, Message: "mailbox disabled"}
			}
			return nil
		},
	}
	sock := t.TempDir() + "/lmtp.sock"
	startGoSMTP(t, be, "unix", sock, func(s *smtp.Server) { s.LMTP = true })
	c := newClient(t, Options{Address: "lmtp+unix:" + sock, TLS: tls.PolicyNone})
	to := []string{"ok@x.test", "full@x.test", "norcpt@x.test", "gone@x.test", "ok@x.test"}
	res := deliver(t, c, message("a@example.org", to, testContent))
	wantResult(t, res[0], envelope.Delivered, 250, "2.0.0", "<ok@x.test> OK: queued")
	wantResult(t, res[1], envelope.Deferred, 452, "4.2.2", "<full@x.test> mailbox full (in reply to end of data)")
	wantResult(t, res[2], envelope.Failed, 550, "5.1.1", "unknown user (in reply to RCPT TO)")
	wantResult(t, res[3], envelope.Failed, 550, "5.2.1", "<gone@x.test> mailbox disabled (in reply to end of data)")
	wantResult(t, res[4], envelope.Delivered, 250, "2.0.0", "<ok@x.test> OK: queued")
	if res[0].Remote != "unix:"+sock {
		t.Errorf("Remote %q", res[0].Remote)
	}
	msgs, _, _, _ := be.snapshot()
	if len(msgs) != 1 || string(msgs[0].Data) != testContent {
		t.Errorf("messages %+v", msgs)
	}
}

func TestGoSMTPCancel(t *testing.T) {
	release := make(chan struct{})
	be := &gsBackend{dataWait: func() { <-release }}
	addr, _ := startGoSMTP(t, be, "tcp", "", nil)
	defer close(release)
	c := newClient(t, Options{Address: "smtp://" + addr, TLS: tls.PolicyNone})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	res := c.Deliver(ctx, message("a@example.org", []string{"b@example.net"}, testContent))
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Deliver took %v after its context ended", d)
	}
	wantResult(t, res[0], envelope.Deferred, 0, "4.4.2", "interrupted while sending end of data -- message may be sent more than once: context deadline exceeded")
}

// failingReader returns lines of some content, then an error.
type failingReader struct{ left, col int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.left <= 0 {
		return 0, errors.New("disk on fire")
	}
	n := min(len(p), f.left)
	for i := range n {
		p[i] = 'x'
		if f.col++; f.col%80 == 0 {
			p[i] = '\n'
		}
	}
	f.left -= n
	return n, nil
}

func TestGoSMTPContentError(t *testing.T) {
	be := &gsBackend{}
	addr, _ := startGoSMTP(t, be, "tcp", "", nil)
	c := newClient(t, Options{Address: "smtp://" + addr, TLS: tls.PolicyNone})
	m := message("a@example.org", []string{"b@example.net"}, "")
	m.Size = 100000
	m.Open = func(context.Context) (io.ReadCloser, error) { return io.NopCloser(&failingReader{left: 70000}), nil }
	wantResult(t, deliver(t, c, m)[0], envelope.Deferred, 0, "4.3.0", "error reading queued message: disk on fire")
	m.Open = func(context.Context) (io.ReadCloser, error) { return nil, errors.New("no such file") }
	wantResult(t, deliver(t, c, m)[0], envelope.Deferred, 0, "4.3.0", "cannot read queued message: no such file")
	time.Sleep(100 * time.Millisecond)
	if msgs, _, _, _ := be.snapshot(); len(msgs) != 0 {
		t.Errorf("a partial message was delivered: %d bytes", len(msgs[0].Data))
	}
}
