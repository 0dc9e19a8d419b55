package smtpclient

import (
	"context"
	cryptotls "crypto/tls"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/tls"
)

// errHandshake marks a failed TLS handshake, after which an opportunistic
// client tries again in plaintext.
var errHandshake = errors.New("TLS handshake failed")

// open dials the downstream and runs the session up to the point where a
// transaction can start: greeting, EHLO (or LHLO), STARTTLS as the policy
// says, AUTH when configured. Under the opportunistic policy a failed
// handshake is retried once without TLS, as MTAs do.
func (c *Client) open(ctx context.Context) (*session, error) {
	s, err := c.openOnce(ctx, c.tlsConfig != nil)
	if errors.Is(err, errHandshake) && c.opts.TLS == tls.PolicyOpportunistic {
		c.log.Warn("smtpclient: TLS handshake failed; retrying in plaintext", "remote", c.remote, "error", err)
		s, err = c.openOnce(ctx, false)
	}
	return s, err
}

func (c *Client) openOnce(ctx context.Context, tryTLS bool) (*session, error) {
	dctx, cancel := context.WithTimeout(ctx, c.opts.Timeouts.Connect)
	conn, err := c.opts.Dialer.DialContext(dctx, c.target.network, c.target.addr)
	cancel()
	if err != nil {
		return nil, deferred("4.4.1", "connect to %s: %v", c.remote, err)
	}
	s := &session{cl: c}
	s.setConn(conn)
	stop := s.watch(ctx)
	err = s.setup(tryTLS)
	if !stop() && err == nil {
		err = deferred("4.4.2", "delivery to %s interrupted: %v", c.remote, context.Cause(ctx))
	}
	if err != nil {
		s.quit()
		return nil, c.ioFailure(ctx, err)
	}
	return s, nil
}

// setup runs greeting, hello, STARTTLS and AUTH on a fresh connection.
func (s *session) setup(tryTLS bool) error {
	rep, err := s.reply(stageGreeting)
	if err != nil {
		return err
	}
	if rep.Code != 220 {
		s.broken = true
		f := sessionFailure("", rep)
		f.text = fmt.Sprintf("%s refused to talk: %s", s.cl.remote, rep.Text())
		return f
	}
	if err := s.hello(s.cl.opts.HeloName); err != nil {
		return err
	}
	if err := s.startTLS(tryTLS); err != nil {
		return err
	}
	if s.cl.opts.Auth != nil {
		return s.auth()
	}
	return nil
}

// hello sends EHLO (LHLO for LMTP) and records the extensions; a server
// that refuses EHLO with a 5xx gets HELO and is taken to have none.
func (s *session) hello(name string) error {
	verb := "EHLO"
	if s.cl.target.lmtp {
		verb = "LHLO"
	}
	rep, err := s.cmd(stageHello, verb+" "+name)
	if err != nil {
		return err
	}
	if rep.Code == 250 {
		s.ext = parseExtensions(rep)
		return nil
	}
	if rep.Code/100 != 5 || s.cl.target.lmtp {
		return sessionFailure(verb, rep)
	}
	rep, err = s.cmd(stageHello, "HELO "+name)
	if err != nil {
		return err
	}
	if rep.Code != 250 {
		return sessionFailure("HELO", rep)
	}
	s.ext = map[string]string{}
	return nil
}

// parseExtensions reads the keywords of an EHLO reply (RFC 5321 §4.1.1.1):
// the lines after the first, keyword and parameters. Keywords holding "="
// (old "AUTH=LOGIN" lines) are ignored.
func parseExtensions(rep Reply) map[string]string {
	ext := map[string]string{}
	for _, l := range rep.Lines[1:] {
		kw, params, _ := strings.Cut(l, " ")
		if kw == "" || strings.Contains(kw, "=") {
			continue
		}
		ext[strings.ToUpper(kw)] = strings.TrimSpace(params)
	}
	return ext
}

// startTLS negotiates TLS when the policy and the server allow, and fails
// when the policy requires TLS and it cannot be had.
func (s *session) startTLS(try bool) error {
	policy := s.cl.opts.TLS
	if !try || !s.has("STARTTLS") {
		if policy.Mandatory() {
			s.broken = true
			return deferred("4.7.4", "TLS is required (policy %s), but %s did not offer STARTTLS", policy, s.cl.remote)
		}
		return nil
	}
	rep, err := s.cmd(stageStartTLS, "STARTTLS")
	if err != nil {
		return err
	}
	if rep.Code != 220 {
		if policy.Mandatory() {
			return sessionFailure("STARTTLS", rep)
		}
		return nil // go on in plaintext; the server's state is unchanged
	}
	if s.r.Buffered() > 0 {
		// Anything sent with the 220 was not protected by TLS (command
		// injection, CVE-2011-0411 turned around): drop the connection.
		s.broken = true
		return deferred("4.7.0", "%s sent data after its reply to STARTTLS", s.cl.remote)
	}
	tc := cryptotls.Client(s.conn, s.cl.tlsConfig)
	_ = s.conn.SetDeadline(time.Now().Add(s.cl.opts.Timeouts.Command))
	if err := tc.Handshake(); err != nil {
		s.broken = true
		return &failure{status: envelope.Deferred, enhanced: "4.7.5",
			text: fmt.Sprintf("%s: %v: %v", s.cl.remote, errHandshake, err), handshake: true}
	}
	s.setConn(tc)
	s.tls = true
	return s.hello(s.cl.opts.HeloName)
}
