package milter

import (
	"strconv"
	"strings"
)

// Command is a packet the MTA sends to the filter. DecodeCommand returns
// the value types of this file (Connect, Helo, …, never pointers) and
// OptNeg.
type Command interface {
	Code() byte
	Encode() Packet
}

// Connect is SMFIC_CONNECT: the SMTP client's host name and address.
// Postfix sends "[addr]" as Hostname when the name is unknown.
type Connect struct {
	Hostname string
	Family   byte   // FamilyUnknown 'U', FamilyUnix 'L', FamilyInet '4', FamilyInet6 '6'
	Port     uint16 // not sent for FamilyUnknown; 0 for FamilyUnix
	Address  string // IP address, or socket path for FamilyUnix; not sent for FamilyUnknown
}

// Helo is SMFIC_HELO: the HELO/EHLO argument.
type Helo struct{ Name string }

// Mail is SMFIC_MAIL: Args[0] is the sender in angle brackets ("<a@b>",
// "<>"), the rest are the ESMTP parameters as sent ("SIZE=123").
type Mail struct{ Args []string }

// Rcpt is SMFIC_RCPT: Args[0] is the recipient in angle brackets, the rest
// are the ESMTP parameters.
type Rcpt struct{ Args []string }

// Data is SMFIC_DATA: the DATA command was received.
type Data struct{}

// Header is SMFIC_HEADER: one message header. Whether Value keeps the
// space after the colon depends on SMFIP_HDR_LEADSPC.
type Header struct{ Name, Value string }

// EndOfHeaders is SMFIC_EOH.
type EndOfHeaders struct{}

// Body is SMFIC_BODY: a chunk of the message body, CRLF line endings.
type Body struct{ Chunk []byte }

// EndOfBody is SMFIC_BODYEOB: end of message, with an optional final chunk
// (usually empty). The filter sends its modifications, then its verdict.
type EndOfBody struct{ Chunk []byte }

// Abort is SMFIC_ABORT: the current message is abandoned; the connection
// continues. No reply.
type Abort struct{}

// Quit is SMFIC_QUIT: the connection is over. No reply.
type Quit struct{}

// QuitNewConn is SMFIC_QUIT_NC: the connection is over and the filter
// connection will be reused for a new one. No reply.
type QuitNewConn struct{}

// Macro is SMFIC_MACRO: macro values for the command that follows. No
// reply.
type Macro struct {
	Stage byte     // the code of the command the macros precede, e.g. CmdConnect
	Pairs []string // name, value, name, value, …; names as sent, e.g. "j", "{client_addr}"
}

// Unknown is SMFIC_UNKNOWN: an SMTP command the MTA did not recognize.
type Unknown struct{ Line string }

// Code returns CmdConnect.
func (Connect) Code() byte { return CmdConnect }

// Code returns CmdHelo.
func (Helo) Code() byte { return CmdHelo }

// Code returns CmdMail.
func (Mail) Code() byte { return CmdMail }

// Code returns CmdRcpt.
func (Rcpt) Code() byte { return CmdRcpt }

// Code returns CmdData.
func (Data) Code() byte { return CmdData }

// Code returns CmdHeader.
func (Header) Code() byte { return CmdHeader }

// Code returns CmdEndOfHeaders.
func (EndOfHeaders) Code() byte { return CmdEndOfHeaders }

// Code returns CmdBody.
func (Body) Code() byte { return CmdBody }

// Code returns CmdEndOfBody.
func (EndOfBody) Code() byte { return CmdEndOfBody }

// Code returns CmdAbort.
func (Abort) Code() byte { return CmdAbort }

// Code returns CmdQuit.
func (Quit) Code() byte { return CmdQuit }

// Code returns CmdQuitNewConn.
func (QuitNewConn) Code() byte { return CmdQuitNewConn }

// Code returns CmdMacro.
func (Macro) Code() byte { return CmdMacro }

// Code returns CmdUnknown.
func (Unknown) Code() byte { return CmdUnknown }

// Encode builds the packet. A zero Family is sent as FamilyUnknown, which
// carries neither port nor address.
func (c Connect) Encode() Packet {
	fam := c.Family
	if fam == 0 {
		fam = FamilyUnknown
	}
	n := cstrLen(c.Hostname) + 1
	if fam != FamilyUnknown {
		n += 2 + cstrLen(c.Address)
	}
	b := make([]byte, 0, n)
	b = appendCStr(b, c.Hostname)
	b = append(b, fam)
	if fam != FamilyUnknown {
		b = append(b, byte(c.Port>>8), byte(c.Port))
		b = appendCStr(b, c.Address)
	}
	return Packet{Code: CmdConnect, Data: b}
}

// Encode builds the packet.
func (h Helo) Encode() Packet { return encodeStrings(CmdHelo, h.Name) }

// Encode builds the packet.
func (m Mail) Encode() Packet { return encodeStrings(CmdMail, m.Args...) }

// Encode builds the packet.
func (r Rcpt) Encode() Packet { return encodeStrings(CmdRcpt, r.Args...) }

// Encode builds the packet.
func (Data) Encode() Packet { return Packet{Code: CmdData} }

// Encode builds the packet.
func (h Header) Encode() Packet { return encodeStrings(CmdHeader, h.Name, h.Value) }

// Encode builds the packet.
func (EndOfHeaders) Encode() Packet { return Packet{Code: CmdEndOfHeaders} }

// Encode builds the packet; its Data aliases Chunk (no copy). Splitting a
// body into chunks of at most ChunkSize is the caller's job.
func (b Body) Encode() Packet { return Packet{Code: CmdBody, Data: b.Chunk} }

// Encode builds the packet; its Data aliases Chunk (no copy).
func (e EndOfBody) Encode() Packet { return Packet{Code: CmdEndOfBody, Data: e.Chunk} }

// Encode builds the packet.
func (Abort) Encode() Packet { return Packet{Code: CmdAbort} }

// Encode builds the packet.
func (Quit) Encode() Packet { return Packet{Code: CmdQuit} }

// Encode builds the packet.
func (QuitNewConn) Encode() Packet { return Packet{Code: CmdQuitNewConn} }

// Encode builds the packet. An odd trailing name is sent with an empty
// value, so the packet always holds whole pairs.
func (m Macro) Encode() Packet {
	n := 1
	for _, s := range m.Pairs {
		n += cstrLen(s)
	}
	odd := len(m.Pairs)%2 == 1
	if odd {
		n++
	}
	b := make([]byte, 0, n)
	b = append(b, m.Stage)
	for _, s := range m.Pairs {
		b = appendCStr(b, s)
	}
	if odd {
		b = append(b, 0)
	}
	return Packet{Code: CmdMacro, Data: b}
}

// Encode builds the packet.
func (u Unknown) Encode() Packet { return encodeStrings(CmdUnknown, u.Line) }

// String describes the command for logs.
func (c Connect) String() string {
	s := "Connect{host=" + q(c.Hostname) + " family=" + familyName(c.Family)
	if c.Family != FamilyUnknown && c.Family != 0 {
		s += " addr=" + q(c.Address) + " port=" + strconv.Itoa(int(c.Port))
	}
	return s + "}"
}

func familyName(f byte) string {
	if f >= '!' && f <= '~' {
		return string(rune(f))
	}
	return "0x" + strconv.FormatUint(uint64(f), 16)
}

// String describes the command for logs.
func (h Helo) String() string { return "Helo{name=" + q(h.Name) + "}" }

// String describes the command for logs.
func (m Mail) String() string { return "Mail{" + qList(m.Args) + "}" }

// String describes the command for logs.
func (r Rcpt) String() string { return "Rcpt{" + qList(r.Args) + "}" }

// String describes the command for logs.
func (Data) String() string { return "Data{}" }

// String describes the command for logs.
func (h Header) String() string {
	return "Header{name=" + q(h.Name) + " value=" + q(h.Value) + "}"
}

// String describes the command for logs.
func (EndOfHeaders) String() string { return "EndOfHeaders{}" }

// String describes the command for logs.
func (b Body) String() string { return "Body{len=" + strconv.Itoa(len(b.Chunk)) + "}" }

// String describes the command for logs.
func (e EndOfBody) String() string {
	return "EndOfBody{len=" + strconv.Itoa(len(e.Chunk)) + "}"
}

// String describes the command for logs.
func (Abort) String() string { return "Abort{}" }

// String describes the command for logs.
func (Quit) String() string { return "Quit{}" }

// String describes the command for logs.
func (QuitNewConn) String() string { return "QuitNewConn{}" }

// String describes the command for logs, e.g.
// `Macro{stage=C j="mx.example" {client_addr}="192.0.2.1"}`.
func (m Macro) String() string {
	var b strings.Builder
	b.WriteString("Macro{stage=")
	b.WriteString(familyName(m.Stage))
	for i := 0; i < len(m.Pairs); i += 2 {
		b.WriteByte(' ')
		b.WriteString(macroName(m.Pairs[i]))
		b.WriteByte('=')
		if i+1 < len(m.Pairs) {
			b.WriteString(q(m.Pairs[i+1]))
		} else {
			b.WriteString(`""`)
		}
	}
	b.WriteByte('}')
	return b.String()
}

// macroName shows a macro name bare when it is plain printable ASCII.
func macroName(s string) string {
	if s == "" || len(s) > logLimit {
		return q(s)
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' || s[i] == '=' || s[i] == '"' {
			return q(s)
		}
	}
	return s
}

// String describes the command for logs.
func (u Unknown) String() string { return "Unknown{line=" + q(u.Line) + "}" }
