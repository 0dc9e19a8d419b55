package smtpd

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"

	"github.com/emersion/go-sasl"
)

// Authenticator checks a user name and password for AUTH PLAIN and LOGIN.
// It returns false for wrong credentials, and an error when it cannot
// tell (the client is told to try again later). UsersFile is one.
type Authenticator interface {
	Authenticate(ctx context.Context, username, password string) (bool, error)
}

// maxAuthSteps bounds the challenges of one AUTH exchange.
const maxAuthSteps = 4

var (
	errAuthInvalid = errors.New("invalid credentials")
	errAuthz       = errors.New("authorization identity differs from the user name")
)

// authTempError carries an Authenticator failure through go-sasl.
type authTempError struct{ err error }

func (e authTempError) Error() string { return "authenticator: " + e.err.Error() }

// cmdAuth authenticates the client (RFC 4954) with PLAIN (RFC 4616, by
// go-sasl) or LOGIN. AUTH is offered over TLS only; a client that tries
// without gets 538. Failures count toward MaxErrors.
func (s *session) cmdAuth(args string) {
	switch {
	case s.opts.Auth == nil:
		s.fail(errorf(codeNotImplemented, esInvalidCommand, "AUTH not available"))
		return
	case !s.greeted || !s.esmtp:
		s.fail(errorf(codeBadSequence, esInvalidCommand, "Send EHLO first"))
		return
	case s.tlsState == nil:
		s.fail(errorf(codeEncryptRequired, esEncryptRequired, "Encryption required for requested authentication mechanism"))
		return
	case s.authenticated():
		s.fail(errorf(codeBadSequence, esInvalidCommand, "Already authenticated"))
		return
	case s.tx != nil:
		s.fail(errorf(codeBadSequence, esInvalidCommand, "MAIL transaction in progress"))
		return
	}
	mech, initial, hasInitial := strings.Cut(args, " ")
	mech = strings.ToUpper(mech)
	var user string
	check := func(identity, username, password string) error {
		user = username
		if identity != "" && identity != username {
			return errAuthz
		}
		ok, err := s.opts.Auth.Authenticate(s.ctx, username, password)
		switch {
		case err != nil:
			return authTempError{err}
		case !ok:
			return errAuthInvalid
		}
		return nil
	}
	var srv sasl.Server
	switch mech {
	case sasl.Plain:
		srv = sasl.NewPlainServer(check)
	case sasl.Login:
		srv = newLoginServer(func(u, p string) error { return check("", u, p) })
	default:
		s.fail(errorf(codeParamNotImpl, esBadArgs, "Unsupported authentication mechanism"))
		return
	}
	if e := s.saslExchange(srv, initial, hasInitial); e != nil {
		s.log.Info("smtpd: authentication failed", "mech", mech, "user", user, "code", e.Code, "err", e.Err)
		s.fail(e)
		return
	}
	s.authUser, s.authMech = user, mech
	s.setAuthMacros()
	s.log.Info("smtpd: authenticated", "mech", mech, "user", user)
	s.reply(codeAuthOK, esAuthOK, "Authentication successful")
}

// saslExchange runs the challenges and responses of one AUTH command.
func (s *session) saslExchange(srv sasl.Server, initial string, hasInitial bool) *Error {
	var resp []byte
	if hasInitial {
		var e *Error
		if resp, e = decodeResponse(initial); e != nil {
			return e
		}
	}
	for range maxAuthSteps {
		challenge, done, err := srv.Next(resp)
		if err != nil {
			return authError(err)
		}
		if done {
			return nil
		}
		s.reply(codeAuthContinue, "", base64.StdEncoding.EncodeToString(challenge))
		line, err := s.readLine(maxAuthLine, s.opts.Timeouts.Command)
		if err != nil {
			s.closing = true
			return errorf(codeSyntaxParam, esSyntax, "Authentication exchange failed").because(err)
		}
		if s.opts.Trace {
			s.log.Debug("smtpd: <", "command", "[redacted AUTH response]")
		}
		if string(line) == "*" {
			return errorf(codeSyntaxParam, esCancelled, "Authentication cancelled")
		}
		var e *Error
		if resp, e = decodeResponse(string(line)); e != nil {
			return e
		}
	}
	return errorf(codeSyntaxParam, esSyntax, "Authentication exchange too long")
}

// decodeResponse decodes a base64 SASL response; "=" is the empty one
// (RFC 4954 §4).
func decodeResponse(s string) ([]byte, *Error) {
	if s == "=" {
		return []byte{}, nil
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, errorf(codeSyntaxParam, esSyntax, "Invalid base64 data")
	}
	return b, nil
}

// authError is the reply to a failed exchange.
func authError(err error) *Error {
	var te authTempError
	switch {
	case errors.As(err, &te):
		return errorf(codeTempAuthFailure, esTempAuth, "Temporary authentication failure").because(te.err)
	case errors.Is(err, errAuthInvalid), errors.Is(err, errAuthz):
		return errorf(codeAuthInvalid, esAuthInvalid, "Authentication credentials invalid").because(err)
	}
	return errorf(codeSyntaxParam, esSyntax, "Malformed authentication response").because(err)
}
