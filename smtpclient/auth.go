package smtpclient

import (
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/emersion/go-sasl"
)

// maxAuthSteps bounds the challenges of one AUTH exchange.
const maxAuthSteps = 10

// auth authenticates with PLAIN or LOGIN (RFC 4954). It refuses to send
// the password over a connection without TLS unless AllowInsecure is set.
// Every failure defers: credentials are the operator's to fix, the mail is
// not at fault.
func (s *session) auth() error {
	a := s.cl.opts.Auth
	if !s.tls && !a.AllowInsecure {
		s.broken = true
		return deferred("4.7.0", "AUTH is configured but the connection to %s is not encrypted (TLS policy %s); refusing to send the password", s.cl.remote, s.cl.opts.TLS)
	}
	mech := chooseMechanism(a.Mechanism, s.ext["AUTH"])
	if mech == "" {
		s.broken = true
		return deferred("4.7.0", "AUTH is configured but %s offers no usable mechanism (offered: %q)", s.cl.remote, s.ext["AUTH"])
	}
	var client sasl.Client
	if mech == sasl.Plain {
		client = sasl.NewPlainClient("", a.Username, a.Password)
	} else {
		client = sasl.NewLoginClient(a.Username, a.Password)
	}
	s.inAuth = true
	defer func() { s.inAuth = false }()
	rep, err := s.saslExchange(client)
	if err != nil {
		return err
	}
	if rep.Code != 235 {
		s.broken = true
		return sessionFailure("AUTH "+mech, rep)
	}
	s.authed = true
	return nil
}

// chooseMechanism picks want if offered, else PLAIN, else LOGIN.
func chooseMechanism(want, offered string) string {
	has := func(m string) bool {
		for _, o := range strings.Fields(offered) {
			if strings.EqualFold(o, m) {
				return true
			}
		}
		return false
	}
	if want != "" {
		if has(want) {
			return want
		}
		return ""
	}
	for _, m := range []string{sasl.Plain, sasl.Login} {
		if has(m) {
			return m
		}
	}
	return ""
}

// saslExchange runs the AUTH command and its challenges, and returns the
// final reply.
func (s *session) saslExchange(client sasl.Client) (Reply, error) {
	mech, ir, err := client.Start()
	if err != nil {
		return Reply{}, deferred("4.7.0", "AUTH: %v", err)
	}
	line := "AUTH " + mech
	if ir != nil {
		line += " " + encode64(ir)
	}
	rep, err := s.cmd(stageAuth, line)
	for step := 0; err == nil && rep.Code == 334; step++ {
		if step == maxAuthSteps {
			s.broken = true
			return rep, deferred("4.7.0", "AUTH %s: more than %d challenges from %s", mech, maxAuthSteps, s.cl.remote)
		}
		challenge, derr := base64.StdEncoding.DecodeString(rep.Text())
		var resp []byte
		if derr == nil {
			resp, derr = client.Next(challenge)
		}
		if derr != nil {
			_, _ = s.cmd(stageAuth, "*") // cancel the exchange (RFC 4954 §4)
			s.broken = true
			return rep, deferred("4.7.0", "AUTH %s with %s: %v", mech, s.cl.remote, derr)
		}
		rep, err = s.cmd(stageAuth, encode64(resp))
	}
	if err != nil {
		return rep, fmt.Errorf("AUTH %s: %w", mech, err)
	}
	return rep, nil
}

// encode64 encodes a SASL response; "=" stands for an empty one.
func encode64(b []byte) string {
	if len(b) == 0 {
		return "="
	}
	return base64.StdEncoding.EncodeToString(b)
}
