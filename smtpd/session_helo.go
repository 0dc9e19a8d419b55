package smtpd

import (
	"strconv"
	"unicode/utf8"

	"github.com/sluice-mta/sluice/filter"
	"github.com/sluice-mta/sluice/xclient"
)

// cmdHelo answers HELO and EHLO (RFC 5321 §4.1.1.1). Either resets a
// transaction in progress. A filter's refusal is the reply, and the
// client stays ungreeted: it may try another name or QUIT.
func (s *session) cmdHelo(args string, ehlo bool) {
	if !validHelo(args) {
		verb := "HELO"
		if ehlo {
			verb = "EHLO"
		}
		s.fail(errorf(codeSyntaxParam, esBadArgs, "Syntax: "+verb+" hostname"))
		return
	}
	s.endTx()
	s.fwd = nil
	s.helo, s.esmtp, s.greeted = args, ehlo, false
	name := args
	if s.xc.helo && s.who.Conn.HELO != "" {
		name = s.who.Conn.HELO
	}
	v := s.call(filter.StageHelo, func(f filter.Session) filter.Verdict { return f.Helo(s.ctx, name) })
	switch {
	case v.Action == filter.ActionDiscard:
		s.discardAll = true
	case v.Terminal():
		e := s.verdictError(filter.StageHelo, v)
		s.log.Info("smtpd: rejected", "stage", "helo", "helo", name, "code", e.Code, "reply", e.Message)
		s.helo = ""
		s.fail(e)
		return
	}
	s.greeted = true
	if !ehlo {
		s.reply(codeOK, "", s.opts.Hostname)
		return
	}
	s.reply(codeOK, "", s.extensions())
}

// extensions is the EHLO reply text: the host name, then one service
// extension per line.
func (s *session) extensions() string {
	ext := s.opts.Hostname +
		"\nPIPELINING" + // RFC 2920
		"\nSIZE " + strconv.FormatInt(s.opts.MaxMessageSize, 10) + // RFC 1870
		"\n8BITMIME" + // RFC 6152
		"\nSMTPUTF8" + // RFC 6531
		"\nENHANCEDSTATUSCODES" + // RFC 2034
		"\nCHUNKING" + // RFC 3030
		"\nDSN" // RFC 3461
	if s.opts.TLSConfig != nil && s.tlsState == nil {
		ext += "\nSTARTTLS" // RFC 3207
	}
	if s.opts.Auth != nil && s.tlsState != nil && !s.authenticated() {
		ext += "\nAUTH PLAIN LOGIN" // RFC 4954
	}
	if xclient.Networks(s.opts.XClientHosts).Allows(s.peer.Addr()) {
		ext += "\nXCLIENT " + xclient.XClientAttrs
	}
	if xclient.Networks(s.opts.XForwardHosts).Allows(s.peer.Addr()) {
		ext += "\nXFORWARD " + xclient.XForwardAttrs
	}
	return ext
}

// validHelo accepts one word of at most 255 octets: printable ASCII, or
// UTF-8 for an internationalized name. Address literals are words too.
func validHelo(s string) bool {
	if s == "" || len(s) > 255 || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return false
		}
	}
	return true
}
