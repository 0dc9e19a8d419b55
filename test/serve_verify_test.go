package test

import (
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// vfUnknownText is the downstream's refusal of vfUnknown.
const (
	vfUnknown     = "unknown@example.org"
	vfUnknownText = "<unknown@example.org>: Recipient address rejected: User unknown in virtual mailbox table"
)

// vfDownstream is a go-smtp server that refuses vfUnknown at RCPT with
// 550 5.1.1, as Postfix does for an unknown virtual user, and records
// the recipients of null-sender transactions (verifications) and the
// messages it receives.
type vfDownstream struct {
	mu       sync.Mutex
	verified []string   // RCPTs after MAIL FROM:<>
	msgs     [][]string // recipients of each message received
}

func (d *vfDownstream) NewSession(*smtp.Conn) (smtp.Session, error) { return &vfSession{d: d}, nil }

type vfSession struct {
	d    *vfDownstream
	from string
	to   []string
}

func (s *vfSession) Mail(from string, _ *smtp.MailOptions) error { s.from = from; return nil }

func (s *vfSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.from == "" {
		s.d.mu.Lock()
		s.d.verified = append(s.d.verified, to)
		s.d.mu.Unlock()
	}
	if to == vfUnknown {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: vfUnknownText}
	}
	s.to = append(s.to, to)
	return nil
}

func (s *vfSession) Data(r io.Reader) error {
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err
	}
	s.d.mu.Lock()
	s.d.msgs = append(s.d.msgs, append([]string(nil), s.to...))
	s.d.mu.Unlock()
	return nil
}

func (s *vfSession) Reset()        { s.from, s.to = "", nil }
func (s *vfSession) Logout() error { return nil }

// snapshot returns copies of what the downstream recorded.
func (d *vfDownstream) snapshot() (verified []string, msgs [][]string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.verified...), append([][]string(nil), d.msgs...)
}

// vfStartDownstream serves d on a loopback port until the test ends.
func vfStartDownstream(t *testing.T, d *vfDownstream) string {
	t.Helper()
	srv := smtp.NewServer(d)
	srv.Domain = "downstream.test"
	srv.ReadTimeout, srv.WriteTimeout = svWait, svWait
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return l.Addr().String()
}

// TestServeVerify: sluice serve with smtp.verify_recipients refuses at
// RCPT the recipient its downstream refuses, with the downstream's reply,
// takes the known one, relays the message to the known one only, answers
// a second question about the unknown one from its cache, and verifies
// nothing a trusted client relays to another domain.
func TestServeVerify(t *testing.T) {
	bin := svBuildSluice(t)
	down := &vfDownstream{}
	addr := vfStartDownstream(t, down)
	s := svStart(t, bin, svConfig{
		SMTP: []string{
			`trusted_networks = ["127.0.0.1/32"]`,
			`relay_domains = ["example.org"]`,
			`verify_recipients = true`,
			`verify_timeout = "20s"`,
		},
		Downstream: "smtp://" + addr,
	})
	c := svOpen(t, s.Addr, svUntrusted, "outsider.test", svEHLO(svDefaultSize, svExtTLS))
	c.cmd("MAIL FROM:<sender@example.com>", "250 2.1.0 Ok")
	c.cmd("RCPT TO:<"+vfUnknown+">", "550 5.1.1 "+vfUnknownText)
	c.cmd("RCPT TO:<known@example.org>", "250 2.1.5 Ok")
	c.cmd("DATA", "354 End data with <CR><LF>.<CR><LF>")
	content := svCRLF(strings.Join(svMessage("known@example.org", "verified", "for the known user"), "\n") + "\n")
	c.write(string(svStuff(content)) + ".\r\n")
	c.match(svQueuedRE)
	c.cmd("RSET", "250 2.0.0 Ok")
	c.cmd("MAIL FROM:<sender@example.com>", "250 2.1.0 Ok")
	c.cmd("RCPT TO:<"+vfUnknown+">", "550 5.1.1 "+vfUnknownText) // from the cache
	c.quit()

	trusted := svOpen(t, s.Addr, "127.0.0.1", "insider.test", svEHLO(svDefaultSize, svExtTLS))
	trusted.cmd("MAIL FROM:<sender@example.org>", "250 2.1.0 Ok")
	trusted.cmd("RCPT TO:<anyone@elsewhere.test>", "250 2.1.5 Ok")
	trusted.cmd("RSET", "250 2.0.0 Ok")
	trusted.quit()

	s.waitQueueEmpty(t)
	deadline := time.Now().Add(svWait)
	var verified []string
	var msgs [][]string
	for {
		verified, msgs = down.snapshot()
		if len(msgs) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if want := []string{vfUnknown, "known@example.org"}; !slices.Equal(verified, want) {
		t.Errorf("downstream verified %q, want %q", verified, want)
	}
	if len(msgs) != 1 || !slices.Equal(msgs[0], []string{"known@example.org"}) {
		t.Errorf("downstream received messages for %q, want one for known@example.org", msgs)
	}
	s.stop(t)
}
