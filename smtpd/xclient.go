package smtpd

import (
	"net/netip"

	"github.com/sluice-mta/sluice/xclient"
)

// cmdXClient replaces the client's identity (Postfix XCLIENT_README) for
// a proxy in XClientHosts, judged by the real peer address. The session
// starts over with a new greeting; the filter session is closed and a new
// one opened, so that its connect stage, and every later stage, macro,
// log line and Received field, see the forwarded client. Relay control
// then judges the forwarded client too.
func (s *session) cmdXClient(args string) {
	if e := s.xcommandAllowed(s.opts.XClientHosts, xclient.VerbXClient); e != nil {
		s.fail(e)
		return
	}
	attrs, err := xclient.Parse(args)
	if err != nil {
		s.fail(errorf(codeSyntaxParam, esBadArgs, "Syntax: XCLIENT attribute=value ...").because(err))
		return
	}
	who := s.who
	if err := who.ApplyXClient(attrs); err != nil {
		s.fail(errorf(codeSyntaxParam, esBadArgs, "Bad XCLIENT attribute: "+err.Error()))
		return
	}
	s.who = who
	for _, a := range attrs {
		switch a.Name {
		case xclient.Helo:
			s.xc.helo = true
		case xclient.Proto:
			s.xc.proto = true
		case xclient.Login:
			s.xc.login = true
		}
	}
	s.restartAs()
}

// restartAs starts the session over for the identity XCLIENT gave.
func (s *session) restartAs() {
	s.helo, s.esmtp, s.greeted = "", false, false
	s.fwd, s.denied, s.discardAll = nil, false, false
	c := s.client()
	s.log = s.srv.log.With("conn", s.id, "client", c.ClientAddr.String(), "proxy", s.peer.String())
	s.log.Info("smtpd: XCLIENT", "name", c.ClientName, "helo", c.HELO, "proto", c.Proto, "login", c.AuthLogin)
	if s.flt != nil {
		s.flt.Close(s.ctx)
		s.flt = nil
	}
	s.macros = newMacroSet()
	s.setConnMacros()
	s.setTLSMacros()
	s.setAuthMacros()
	if s.opts.Filter != nil && !s.openFilter() {
		return
	}
	if !s.denied {
		s.reply(codeReady, "", s.opts.Hostname+" ESMTP")
	}
}

// cmdXForward records the original client of the next transaction
// (Postfix XFORWARD_README) for a host in XForwardHosts. It is used from
// MAIL on, for macros, logs, the Received field and the queued message;
// attributes not sent are unknown. Several XFORWARD commands add up.
func (s *session) cmdXForward(args string) {
	if e := s.xcommandAllowed(s.opts.XForwardHosts, xclient.VerbXForward); e != nil {
		s.fail(e)
		return
	}
	attrs, err := xclient.Parse(args)
	if err != nil {
		s.fail(errorf(codeSyntaxParam, esBadArgs, "Syntax: XFORWARD attribute=value ...").because(err))
		return
	}
	var fwd xclient.Identity
	if s.fwd != nil {
		fwd = *s.fwd
	}
	if err := fwd.ApplyXForward(attrs); err != nil {
		s.fail(errorf(codeSyntaxParam, esBadArgs, "Bad XFORWARD attribute: "+err.Error()))
		return
	}
	s.fwd = &fwd
	s.reply(codeOK, esOK, "Ok")
}

// xcommandAllowed checks who may send XCLIENT or XFORWARD, and when.
func (s *session) xcommandAllowed(hosts []netip.Prefix, verb string) *Error {
	if !xclient.Networks(hosts).Allows(s.peer.Addr()) {
		s.log.Info("smtpd: unauthorized "+verb, "peer", s.peer.String())
		return errorf(codeMailboxDenied, esSecurity, "Insufficient authorization")
	}
	if s.tx != nil {
		return errorf(codeBadSequence, esInvalidCommand, "MAIL transaction in progress")
	}
	return nil
}
