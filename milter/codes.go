package milter

import "fmt"

// Protocol versions (SMFIC_OPTNEG version field).
const (
	// ProtocolVersion is the milter protocol version this codec speaks
	// (SMFI_PROT_VERSION in libmilter's mfdef.h).
	ProtocolVersion uint32 = 6
	// MinProtocolVersion is the oldest version libmilter accepts.
	MinProtocolVersion uint32 = 2
)

// Command codes, sent by the MTA to the filter (SMFIC_* in mfdef.h).
const (
	CmdAbort        byte = 'A' // SMFIC_ABORT: abort the current message
	CmdBody         byte = 'B' // SMFIC_BODY: a body chunk
	CmdConnect      byte = 'C' // SMFIC_CONNECT: connection information
	CmdMacro        byte = 'D' // SMFIC_MACRO: macros for the next command
	CmdEndOfBody    byte = 'E' // SMFIC_BODYEOB: end of message (final chunk)
	CmdHelo         byte = 'H' // SMFIC_HELO: HELO/EHLO name
	CmdQuitNewConn  byte = 'K' // SMFIC_QUIT_NC: quit, a new connection follows
	CmdHeader       byte = 'L' // SMFIC_HEADER: one header
	CmdMail         byte = 'M' // SMFIC_MAIL: MAIL FROM
	CmdEndOfHeaders byte = 'N' // SMFIC_EOH: end of headers
	CmdOptNeg       byte = 'O' // SMFIC_OPTNEG: option negotiation
	CmdQuit         byte = 'Q' // SMFIC_QUIT: quit
	CmdRcpt         byte = 'R' // SMFIC_RCPT: RCPT TO
	CmdData         byte = 'T' // SMFIC_DATA: DATA
	CmdUnknown      byte = 'U' // SMFIC_UNKNOWN: an unknown SMTP command
)

// Reply codes, sent by the filter to the MTA (SMFIR_* in mfdef.h). The
// filter's answer to SMFIC_OPTNEG uses CmdOptNeg ('O').
const (
	RespAddRcpt      byte = '+' // SMFIR_ADDRCPT: add a recipient
	RespDelRcpt      byte = '-' // SMFIR_DELRCPT: remove a recipient
	RespAddRcptPar   byte = '2' // SMFIR_ADDRCPT_PAR: add a recipient with ESMTP args
	RespShutdown     byte = '4' // SMFIR_SHUTDOWN: 421, close the connection
	RespAccept       byte = 'a' // SMFIR_ACCEPT: accept
	RespReplaceBody  byte = 'b' // SMFIR_REPLBODY: replace the body (a chunk of it)
	RespContinue     byte = 'c' // SMFIR_CONTINUE: continue
	RespDiscard      byte = 'd' // SMFIR_DISCARD: accept and discard the message
	RespChangeFrom   byte = 'e' // SMFIR_CHGFROM: change the envelope sender
	RespConnFail     byte = 'f' // SMFIR_CONN_FAIL: cause a connection failure
	RespAddHeader    byte = 'h' // SMFIR_ADDHEADER: append a header
	RespInsertHeader byte = 'i' // SMFIR_INSHEADER: insert a header at an index
	RespSetSymList   byte = 'l' // SMFIR_SETSYMLIST: set the macro list of a stage
	RespChangeHeader byte = 'm' // SMFIR_CHGHEADER: change or delete a header
	RespProgress     byte = 'p' // SMFIR_PROGRESS: still working, reset timeouts
	RespQuarantine   byte = 'q' // SMFIR_QUARANTINE: quarantine the message
	RespReject       byte = 'r' // SMFIR_REJECT: reject (5xx)
	RespSkip         byte = 's' // SMFIR_SKIP: skip further events of this kind
	RespTempFail     byte = 't' // SMFIR_TEMPFAIL: temporary failure (4xx)
	RespReplyCode    byte = 'y' // SMFIR_REPLYCODE: reject or tempfail with a text
)

// Address families of SMFIC_CONNECT (SMFIA_* in mfdef.h).
const (
	FamilyUnknown byte = 'U' // SMFIA_UNKNOWN: no port or address follow
	FamilyUnix    byte = 'L' // SMFIA_UNIX: port 0, address is the socket path
	FamilyInet    byte = '4' // SMFIA_INET
	FamilyInet6   byte = '6' // SMFIA_INET6
)

var commandNames = map[byte]string{
	CmdAbort:        "SMFIC_ABORT",
	CmdBody:         "SMFIC_BODY",
	CmdConnect:      "SMFIC_CONNECT",
	CmdMacro:        "SMFIC_MACRO",
	CmdEndOfBody:    "SMFIC_BODYEOB",
	CmdHelo:         "SMFIC_HELO",
	CmdQuitNewConn:  "SMFIC_QUIT_NC",
	CmdHeader:       "SMFIC_HEADER",
	CmdMail:         "SMFIC_MAIL",
	CmdEndOfHeaders: "SMFIC_EOH",
	CmdOptNeg:       "SMFIC_OPTNEG",
	CmdQuit:         "SMFIC_QUIT",
	CmdRcpt:         "SMFIC_RCPT",
	CmdData:         "SMFIC_DATA",
	CmdUnknown:      "SMFIC_UNKNOWN",
}

var responseNames = map[byte]string{
	RespAddRcpt:      "SMFIR_ADDRCPT",
	RespDelRcpt:      "SMFIR_DELRCPT",
	RespAddRcptPar:   "SMFIR_ADDRCPT_PAR",
	RespShutdown:     "SMFIR_SHUTDOWN",
	RespAccept:       "SMFIR_ACCEPT",
	RespReplaceBody:  "SMFIR_REPLBODY",
	RespContinue:     "SMFIR_CONTINUE",
	RespDiscard:      "SMFIR_DISCARD",
	RespChangeFrom:   "SMFIR_CHGFROM",
	RespConnFail:     "SMFIR_CONN_FAIL",
	RespAddHeader:    "SMFIR_ADDHEADER",
	RespInsertHeader: "SMFIR_INSHEADER",
	RespSetSymList:   "SMFIR_SETSYMLIST",
	RespChangeHeader: "SMFIR_CHGHEADER",
	RespProgress:     "SMFIR_PROGRESS",
	RespQuarantine:   "SMFIR_QUARANTINE",
	RespReject:       "SMFIR_REJECT",
	RespSkip:         "SMFIR_SKIP",
	RespTempFail:     "SMFIR_TEMPFAIL",
	RespReplyCode:    "SMFIR_REPLYCODE",
	CmdOptNeg:        "SMFIC_OPTNEG",
}

// CommandName returns the libmilter name of a command code, e.g.
// "SMFIC_CONNECT", or a quoted form of the byte when the code is unknown.
func CommandName(code byte) string {
	if n, ok := commandNames[code]; ok {
		return n
	}
	return unknownCode(code)
}

// ResponseName returns the libmilter name of a reply code, e.g.
// "SMFIR_CONTINUE" ('O' is "SMFIC_OPTNEG"), or a quoted form of the byte
// when the code is unknown.
func ResponseName(code byte) string {
	if n, ok := responseNames[code]; ok {
		return n
	}
	return unknownCode(code)
}

// IsCommand reports whether code is a known command code.
func IsCommand(code byte) bool { _, ok := commandNames[code]; return ok }

// IsResponse reports whether code is a known reply code (including 'O').
func IsResponse(code byte) bool { _, ok := responseNames[code]; return ok }

func unknownCode(code byte) string {
	return fmt.Sprintf("code %q (0x%02x)", rune(code), code)
}

// codeName names a code for error messages, whichever direction it travels.
func codeName(code byte) string {
	if n, ok := commandNames[code]; ok {
		return n
	}
	return ResponseName(code)
}
