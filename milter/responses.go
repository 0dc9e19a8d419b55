package milter

import "strconv"

// Response is a packet the filter sends to the MTA. DecodeResponse returns
// the value types of this file (never pointers) and OptNeg.
type Response interface {
	Code() byte
	Encode() Packet
}

// Verdicts without data.
type (
	// Continue is SMFIR_CONTINUE: go on with the next stage.
	Continue struct{}
	// Accept is SMFIR_ACCEPT: accept the message (or, at connect and HELO,
	// the connection) without further filtering.
	Accept struct{}
	// Reject is SMFIR_REJECT: 5xx for the recipient, message or connection.
	Reject struct{}
	// TempFail is SMFIR_TEMPFAIL: 4xx for the recipient, message or
	// connection.
	TempFail struct{}
	// Discard is SMFIR_DISCARD: accept the message and drop it.
	Discard struct{}
	// Skip is SMFIR_SKIP: send no more events of this kind (body chunks)
	// for this message; only valid when SMFIP_SKIP was agreed.
	Skip struct{}
	// ConnFail is SMFIR_CONN_FAIL: make the connection fail.
	ConnFail struct{}
	// Shutdown is SMFIR_SHUTDOWN: answer 421 and close the connection.
	Shutdown struct{}
	// Progress is SMFIR_PROGRESS: still working, restart the MTA's timer.
	// It may be sent any number of times before the real reply.
	Progress struct{}
)

// ReplyCode is SMFIR_REPLYCODE: reject or tempfail with a full SMTP reply,
// e.g. "550 5.7.1 go away". A multi-line reply joins its lines with CRLF:
// "550-5.7.1 first\r\n550 5.7.1 last". Build one with NewReplyCode; check
// one with ValidateReplyText (DecodeResponse does). Sendmail treats the
// text as a format string, so libmilter filters double '%'; Postfix undoes
// "%%". This codec passes the text through unchanged.
type ReplyCode struct{ Text string }

// AddHeader is SMFIR_ADDHEADER: append a header.
type AddHeader struct{ Name, Value string }

// InsertHeader is SMFIR_INSHEADER: insert a header before the Index-th
// header (0 is the top of the header).
type InsertHeader struct {
	Index       uint32
	Name, Value string
}

// ChangeHeader is SMFIR_CHGHEADER: replace the Index-th (1-based) header
// called Name; an empty Value deletes it.
type ChangeHeader struct {
	Index       uint32
	Name, Value string
}

// AddRcpt is SMFIR_ADDRCPT: add a recipient ("<a@b>" or bare address).
type AddRcpt struct{ Rcpt string }

// AddRcptPar is SMFIR_ADDRCPT_PAR: add a recipient with ESMTP arguments.
// Empty Args are not sent.
type AddRcptPar struct{ Rcpt, Args string }

// DelRcpt is SMFIR_DELRCPT: remove a recipient, as it was given in RCPT.
type DelRcpt struct{ Rcpt string }

// ChangeFrom is SMFIR_CHGFROM: replace the envelope sender, with optional
// ESMTP arguments. Empty Args are not sent (the packet then holds one
// string).
type ChangeFrom struct{ From, Args string }

// ReplaceBody is SMFIR_REPLBODY: a chunk of the new body. The filter sends
// the whole new body as consecutive chunks.
type ReplaceBody struct{ Chunk []byte }

// Quarantine is SMFIR_QUARANTINE: hold the message, with a reason.
type Quarantine struct{ Reason string }

// SetSymList is SMFIR_SETSYMLIST: the macros (space-separated names) the
// filter wants at a stage (MacroConnect … MacroEOH). Postfix and libmilter
// carry these lists inside the OPTNEG reply (OptNeg.SymLists), not as
// separate 'l' packets, which Postfix does not accept.
type SetSymList struct {
	Stage  uint32
	Macros string
}

// Code returns RespContinue.
func (Continue) Code() byte { return RespContinue }

// Code returns RespAccept.
func (Accept) Code() byte { return RespAccept }

// Code returns RespReject.
func (Reject) Code() byte { return RespReject }

// Code returns RespTempFail.
func (TempFail) Code() byte { return RespTempFail }

// Code returns RespDiscard.
func (Discard) Code() byte { return RespDiscard }

// Code returns RespSkip.
func (Skip) Code() byte { return RespSkip }

// Code returns RespConnFail.
func (ConnFail) Code() byte { return RespConnFail }

// Code returns RespShutdown.
func (Shutdown) Code() byte { return RespShutdown }

// Code returns RespProgress.
func (Progress) Code() byte { return RespProgress }

// Code returns RespReplyCode.
func (ReplyCode) Code() byte { return RespReplyCode }

// Code returns RespAddHeader.
func (AddHeader) Code() byte { return RespAddHeader }

// Code returns RespInsertHeader.
func (InsertHeader) Code() byte { return RespInsertHeader }

// Code returns RespChangeHeader.
func (ChangeHeader) Code() byte { return RespChangeHeader }

// Code returns RespAddRcpt.
func (AddRcpt) Code() byte { return RespAddRcpt }

// Code returns RespAddRcptPar.
func (AddRcptPar) Code() byte { return RespAddRcptPar }

// Code returns RespDelRcpt.
func (DelRcpt) Code() byte { return RespDelRcpt }

// Code returns RespChangeFrom.
func (ChangeFrom) Code() byte { return RespChangeFrom }

// Code returns RespReplaceBody.
func (ReplaceBody) Code() byte { return RespReplaceBody }

// Code returns RespQuarantine.
func (Quarantine) Code() byte { return RespQuarantine }

// Code returns RespSetSymList.
func (SetSymList) Code() byte { return RespSetSymList }

// Encode builds the packet.
func (Continue) Encode() Packet { return Packet{Code: RespContinue} }

// Encode builds the packet.
func (Accept) Encode() Packet { return Packet{Code: RespAccept} }

// Encode builds the packet.
func (Reject) Encode() Packet { return Packet{Code: RespReject} }

// Encode builds the packet.
func (TempFail) Encode() Packet { return Packet{Code: RespTempFail} }

// Encode builds the packet.
func (Discard) Encode() Packet { return Packet{Code: RespDiscard} }

// Encode builds the packet.
func (Skip) Encode() Packet { return Packet{Code: RespSkip} }

// Encode builds the packet.
func (ConnFail) Encode() Packet { return Packet{Code: RespConnFail} }

// Encode builds the packet.
func (Shutdown) Encode() Packet { return Packet{Code: RespShutdown} }

// Encode builds the packet.
func (Progress) Encode() Packet { return Packet{Code: RespProgress} }

// Encode builds the packet. The text is not validated here.
func (r ReplyCode) Encode() Packet { return encodeStrings(RespReplyCode, r.Text) }

// Encode builds the packet.
func (h AddHeader) Encode() Packet { return encodeStrings(RespAddHeader, h.Name, h.Value) }

// Encode builds the packet.
func (h InsertHeader) Encode() Packet {
	return encodeIndexHeader(RespInsertHeader, h.Index, h.Name, h.Value)
}

// Encode builds the packet.
func (h ChangeHeader) Encode() Packet {
	return encodeIndexHeader(RespChangeHeader, h.Index, h.Name, h.Value)
}

func encodeIndexHeader(code byte, index uint32, name, value string) Packet {
	b := make([]byte, 0, 4+cstrLen(name)+cstrLen(value))
	b = appendU32(b, index)
	b = appendCStr(b, name)
	b = appendCStr(b, value)
	return Packet{Code: code, Data: b}
}

// Encode builds the packet.
func (r AddRcpt) Encode() Packet { return encodeStrings(RespAddRcpt, r.Rcpt) }

// Encode builds the packet.
func (r AddRcptPar) Encode() Packet { return encodeOptArgs(RespAddRcptPar, r.Rcpt, r.Args) }

// Encode builds the packet.
func (r DelRcpt) Encode() Packet { return encodeStrings(RespDelRcpt, r.Rcpt) }

// Encode builds the packet.
func (c ChangeFrom) Encode() Packet { return encodeOptArgs(RespChangeFrom, c.From, c.Args) }

func encodeOptArgs(code byte, addr, args string) Packet {
	if args == "" {
		return encodeStrings(code, addr)
	}
	return encodeStrings(code, addr, args)
}

// Encode builds the packet; its Data aliases Chunk (no copy).
func (r ReplaceBody) Encode() Packet { return Packet{Code: RespReplaceBody, Data: r.Chunk} }

// Encode builds the packet.
func (q Quarantine) Encode() Packet { return encodeStrings(RespQuarantine, q.Reason) }

// Encode builds the packet.
func (s SetSymList) Encode() Packet {
	return Packet{Code: RespSetSymList, Data: appendSymList(nil, s)}
}

func appendSymList(b []byte, s SetSymList) []byte {
	b = appendU32(b, s.Stage)
	return appendCStr(b, s.Macros)
}

// String describes the reply for logs.
func (Continue) String() string { return "Continue{}" }

// String describes the reply for logs.
func (Accept) String() string { return "Accept{}" }

// String describes the reply for logs.
func (Reject) String() string { return "Reject{}" }

// String describes the reply for logs.
func (TempFail) String() string { return "TempFail{}" }

// String describes the reply for logs.
func (Discard) String() string { return "Discard{}" }

// String describes the reply for logs.
func (Skip) String() string { return "Skip{}" }

// String describes the reply for logs.
func (ConnFail) String() string { return "ConnFail{}" }

// String describes the reply for logs.
func (Shutdown) String() string { return "Shutdown{}" }

// String describes the reply for logs.
func (Progress) String() string { return "Progress{}" }

// String describes the reply for logs.
func (r ReplyCode) String() string { return "ReplyCode{" + q(r.Text) + "}" }

// String describes the reply for logs.
func (h AddHeader) String() string {
	return "AddHeader{name=" + q(h.Name) + " value=" + q(h.Value) + "}"
}

// String describes the reply for logs.
func (h InsertHeader) String() string {
	return "InsertHeader{index=" + strconv.FormatUint(uint64(h.Index), 10) +
		" name=" + q(h.Name) + " value=" + q(h.Value) + "}"
}

// String describes the reply for logs.
func (h ChangeHeader) String() string {
	return "ChangeHeader{index=" + strconv.FormatUint(uint64(h.Index), 10) +
		" name=" + q(h.Name) + " value=" + q(h.Value) + "}"
}

// String describes the reply for logs.
func (r AddRcpt) String() string { return "AddRcpt{" + q(r.Rcpt) + "}" }

// String describes the reply for logs.
func (r AddRcptPar) String() string {
	return "AddRcptPar{rcpt=" + q(r.Rcpt) + " args=" + q(r.Args) + "}"
}

// String describes the reply for logs.
func (r DelRcpt) String() string { return "DelRcpt{" + q(r.Rcpt) + "}" }

// String describes the reply for logs.
func (c ChangeFrom) String() string {
	return "ChangeFrom{from=" + q(c.From) + " args=" + q(c.Args) + "}"
}

// String describes the reply for logs.
func (r ReplaceBody) String() string {
	return "ReplaceBody{len=" + strconv.Itoa(len(r.Chunk)) + "}"
}

// String describes the reply for logs.
func (r Quarantine) String() string { return "Quarantine{reason=" + q(r.Reason) + "}" }

// String describes the reply for logs.
func (s SetSymList) String() string {
	return "SetSymList{stage=" + strconv.FormatUint(uint64(s.Stage), 10) +
		" macros=" + q(s.Macros) + "}"
}
