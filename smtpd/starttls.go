package smtpd

import (
	"context"
	cryptotls "crypto/tls"
)

// cmdStartTLS starts TLS (RFC 3207). Whatever the client sent after the
// command in the same burst is plaintext it had no right to pipeline; it
// is dropped, not read as the first commands of the TLS session
// (CVE-2011-0411). The session then starts over: the client must greet
// again (§4.2); the filter session goes on and sees a second HELO.
func (s *session) cmdStartTLS(args string) {
	switch {
	case s.opts.TLSConfig == nil:
		s.fail(errorf(codeNotImplemented, esInvalidCommand, "STARTTLS not available"))
		return
	case args != "":
		s.fail(errorf(codeSyntaxParam, esBadArgs, "Syntax: STARTTLS"))
		return
	case s.tlsState != nil:
		s.fail(errorf(codeBadSequence, esInvalidCommand, "TLS already active"))
		return
	case s.tx != nil:
		s.fail(errorf(codeBadSequence, esInvalidCommand, "MAIL transaction in progress"))
		return
	}
	s.reply(codeReady, esOK, "Ready to start TLS")
	s.flush()
	if s.closing {
		return
	}
	if n := s.br.Buffered(); n > 0 {
		s.log.Warn("smtpd: dropped plaintext pipelined after STARTTLS", "bytes", n)
		_, _ = s.br.Discard(n)
	}
	tc := cryptotls.Server(s.dc, s.opts.TLSConfig)
	s.dc.timeout = s.opts.Timeouts.TLSHandshake
	ctx, cancel := context.WithTimeout(s.ctx, s.opts.Timeouts.TLSHandshake)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		s.log.Info("smtpd: TLS handshake failed", "err", err)
		s.closing = true
		return
	}
	st := tc.ConnectionState()
	s.tlsState = &st
	s.br.Reset(tc)
	s.bw.Reset(tc)
	s.helo, s.esmtp, s.greeted = "", false, false
	s.fwd = nil
	s.setTLSMacros()
	s.setClientMacros(s.client())
	t := s.tlsInfo()
	s.log.Debug("smtpd: TLS started", "version", t.Version, "cipher", t.Cipher, "sni", t.ServerName)
}
