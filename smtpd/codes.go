package smtpd

// Reply codes (RFC 5321 §4.2.2 unless noted).
const (
	codeHelp            = 214 // RFC 5321 §4.1.1.8: help message
	codeReady           = 220 // RFC 5321 §4.2.2: <domain> service ready (greeting, STARTTLS, XCLIENT)
	codeClosing         = 221 // RFC 5321 §4.1.1.10: closing transmission channel
	codeAuthOK          = 235 // RFC 4954 §6: authentication successful
	codeOK              = 250 // RFC 5321 §4.2.2: requested mail action okay, completed
	codeCannotVerify    = 252 // RFC 5321 §3.5.3: cannot VRFY user, but will accept message
	codeAuthContinue    = 334 // RFC 4954 §4: server challenge
	codeStartData       = 354 // RFC 5321 §4.2.2: start mail input; end with <CRLF>.<CRLF>
	codeUnavailable     = 421 // RFC 5321 §3.8: service not available, closing transmission channel
	codeMailboxBusy     = 450 // RFC 5321 §4.2.2: mailbox unavailable (temporary)
	codeLocalError      = 451 // RFC 5321 §4.2.2: local error in processing
	codeNoStorage       = 452 // RFC 5321 §4.2.2 and §4.5.3.1.10: insufficient storage, too many recipients
	codeTempAuthFailure = 454 // RFC 4954 §6 (and RFC 3207 §4): temporary authentication failure
	codeSyntax          = 500 // RFC 5321 §4.2.2: syntax error, command unrecognized, line too long
	codeSyntaxParam     = 501 // RFC 5321 §4.2.2: syntax error in parameters or arguments
	codeNotImplemented  = 502 // RFC 5321 §4.2.2: command not implemented
	codeBadSequence     = 503 // RFC 5321 §4.2.2: bad sequence of commands
	codeParamNotImpl    = 504 // RFC 5321 §4.2.2 (RFC 4954 §4): parameter or mechanism not implemented
	codeAuthInvalid     = 535 // RFC 4954 §6: authentication credentials invalid
	codeEncryptRequired = 538 // RFC 4954 §6: encryption required for the mechanism
	codeMailboxDenied   = 550 // RFC 5321 §4.2.2: mailbox unavailable, or policy refusal
	codeTooBig          = 552 // RFC 5321 §4.2.2 and RFC 1870 §6: exceeded storage allocation
	codeBadMailbox      = 553 // RFC 5321 §4.2.2: mailbox name not allowed
	codeFailed          = 554 // RFC 5321 §4.2.2 and §3.1: transaction failed, no service
	codeBadParams       = 555 // RFC 5321 §4.2.2: MAIL/RCPT parameters not recognized
)

// Enhanced status codes (RFC 3463 §3, registry of RFC 5248).
const (
	esOK              = "2.0.0"  // RFC 3463 §3.1: other undefined status (success)
	esSenderOK        = "2.1.0"  // RFC 3463 §3.2: other address status (sender)
	esRecipientOK     = "2.1.5"  // RFC 3463 §3.2: destination address valid
	esVrfy            = "2.5.0"  // RFC 3463 §3.6: other or undefined protocol status
	esAuthOK          = "2.7.0"  // RFC 4954 §6: authentication succeeded
	esTempLocal       = "4.3.0"  // RFC 3463 §3.4: other or undefined mail system status
	esTempStorage     = "4.3.1"  // RFC 3463 §3.4: mail system full
	esShutdown        = "4.3.2"  // RFC 3463 §3.4: system not accepting network messages
	esTimeout         = "4.4.2"  // RFC 3463 §3.5: bad connection (timed out)
	esTooManyRcpts    = "4.5.3"  // RFC 3463 §3.6: too many recipients
	esTempAuth        = "4.7.0"  // RFC 4954 §6 and RFC 3463 §3.8: other security status
	esTempPolicy      = "4.7.1"  // RFC 3463 §3.8: delivery not authorized (temporarily)
	esBadSender       = "5.1.7"  // RFC 3463 §3.2: bad sender's mailbox address syntax
	esBadRecipient    = "5.1.3"  // RFC 3463 §3.2: bad destination mailbox address syntax
	esTooBig          = "5.3.4"  // RFC 3463 §3.4: message too big for system
	esInvalidCommand  = "5.5.1"  // RFC 3463 §3.6: invalid command
	esSyntax          = "5.5.2"  // RFC 3463 §3.6: syntax error
	esBadArgs         = "5.5.4"  // RFC 3463 §3.6: invalid command arguments
	esMedia           = "5.6.0"  // RFC 3463 §3.7: other or undefined media error
	esNonASCII        = "5.6.7"  // RFC 6531 (registered by it): non-ASCII address not permitted
	esSecurity        = "5.7.0"  // RFC 3463 §3.8: other or undefined security status
	esPolicy          = "5.7.1"  // RFC 3463 §3.8: delivery not authorized, message refused
	esAuthInvalid     = "5.7.8"  // RFC 4954 §6: authentication credentials invalid
	esEncryptRequired = "5.7.11" // RFC 4954 §6: encryption required for requested mechanism
	esCancelled       = "5.0.0"  // RFC 4954 §4: authentication exchange cancelled
)
