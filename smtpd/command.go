package smtpd

import (
	"strings"

	"github.com/sluice-mta/sluice/filter"
)

// parseCommand splits a command line (without CRLF) into its upper-cased
// verb and its arguments, spaces around them trimmed. A line with a
// control character (NUL, CR, TAB...) is refused.
func parseCommand(line []byte) (verb, args string, e *Error) {
	for _, c := range line {
		if c < ' ' || c == 0x7f {
			return "", "", errorf(codeSyntax, esSyntax, "Bad character in command")
		}
	}
	v, a, _ := strings.Cut(string(line), " ")
	return strings.ToUpper(v), strings.Trim(a, " "), nil
}

// lineLimit is the longest line, CRLF included, the verb may come on.
func lineLimit(verb string) int {
	switch verb {
	case "MAIL":
		return maxMailLine
	case "RCPT":
		return maxRcptLine
	case "AUTH":
		return maxAuthLine
	}
	return maxCommandLine
}

// httpVerbs are the verbs of a web client talking to the wrong port.
func isHTTPVerb(verb string) bool {
	switch verb {
	case "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH":
		return true
	}
	return false
}

// handle answers one command line.
func (s *session) handle(line []byte) {
	if s.opts.Trace {
		s.traceCommand(line)
	}
	verb, args, e := parseCommand(line)
	switch {
	case e != nil:
		s.fail(e)
		return
	case len(line)+2 > lineLimit(verb):
		s.fail(errorf(codeSyntax, esSyntax, "Line too long"))
		return
	case s.denied && verb != "QUIT":
		s.fail(errorf(codeBadSequence, esInvalidCommand, "Bad sequence of commands"))
		return
	}
	s.dispatch(verb, args, line)
}

// dispatch calls the handler of verb: one method per command.
func (s *session) dispatch(verb, args string, line []byte) {
	switch verb {
	case "HELO":
		s.cmdHelo(args, false)
	case "EHLO":
		s.cmdHelo(args, true)
	case "MAIL":
		s.cmdMail(args)
	case "RCPT":
		s.cmdRcpt(args)
	case "DATA":
		s.cmdData(args)
	case "BDAT":
		s.cmdBdat(args)
	case "RSET":
		s.cmdRset(args)
	case "NOOP":
		s.reply(codeOK, esOK, "Ok")
	case "VRFY":
		s.cmdVrfy(args)
	case "EXPN":
		s.fail(errorf(codeNotImplemented, esInvalidCommand, "EXPN not implemented"))
	case "HELP":
		s.reply(codeHelp, esOK, "Commands: HELO EHLO MAIL RCPT DATA BDAT RSET NOOP VRFY HELP QUIT STARTTLS AUTH")
	case "QUIT":
		s.reply(codeClosing, esOK, "Bye")
		s.closing = true
	case "STARTTLS":
		s.cmdStartTLS(args)
	case "AUTH":
		s.cmdAuth(args)
	case "XCLIENT":
		s.cmdXClient(args)
	case "XFORWARD":
		s.cmdXForward(args)
	default:
		if isHTTPVerb(verb) {
			s.log.Info("smtpd: HTTP request on an SMTP port", "verb", verb)
			s.fail(errorf(codeNotImplemented, esInvalidCommand, "This is an SMTP server, not a web server"))
			s.closing = true
			return
		}
		s.cmdUnknown(string(line))
	}
}

func (s *session) cmdRset(args string) {
	if args != "" {
		s.fail(errorf(codeSyntaxParam, esBadArgs, "Syntax: RSET"))
		return
	}
	s.endTx()
	s.fwd = nil
	s.reply(codeOK, esOK, "Ok")
}

func (s *session) cmdVrfy(args string) {
	if args == "" {
		s.fail(errorf(codeSyntaxParam, esBadArgs, "Syntax: VRFY address"))
		return
	}
	s.reply(codeCannotVerify, esVrfy, "Cannot VRFY user, but will accept message and attempt delivery")
}

// cmdUnknown asks the filters about a command the server does not know
// (the milter "unknown" stage) before refusing it.
func (s *session) cmdUnknown(line string) {
	v := s.call(filter.StageUnknown, func(f filter.Session) filter.Verdict { return f.Unknown(s.ctx, line) })
	if v.Terminal() && v.Reply != nil {
		s.fail(s.verdictError(filter.StageUnknown, v))
		return
	}
	s.fail(errorf(codeSyntax, esInvalidCommand, "Command not recognized"))
}

// traceCommand logs a command line, AUTH arguments redacted.
func (s *session) traceCommand(line []byte) {
	l := string(line)
	if f := strings.Fields(l); len(f) > 2 && strings.EqualFold(f[0], "AUTH") {
		l = f[0] + " " + f[1] + " [redacted]"
	}
	s.log.Debug("smtpd: <", "command", l)
}
