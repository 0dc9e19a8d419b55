// Package milter is the wire codec of the Sendmail milter protocol (version
// 6, as spoken by libmilter, Sendmail 8.14+ and Postfix 2.6+). It is shared by
// both ends of a milter conversation: miltersrv (the filter side: it decodes
// commands and encodes replies) and milterclient (the MTA side: it encodes
// commands and decodes replies).
//
// # What it owns
//
//   - Framing (Packet, Reader, Writer): a 4-byte big-endian length that
//     covers the code byte and the data, one code byte, then the data. The
//     length is checked against a limit before anything is allocated, and a
//     buffer only grows as bytes actually arrive.
//   - The constants: command codes (SMFIC_*, Cmd…), reply codes (SMFIR_*,
//     Resp…), action flags (SMFIF_*, ActionFlags), protocol flags (SMFIP_*,
//     ProtoFlags), macro stages (SMFIM_*, Macro…) and address families
//     (SMFIA_*, Family…). Their values are those of libmilter's mfdef.h and
//     mfapi.h.
//   - Typed packets: one Go type per command (Connect, Helo, Mail, …) and per
//     reply (Continue, ReplyCode, AddHeader, …), each with Encode and
//     String, and DecodeCommand / DecodeResponse to parse them. Decoded
//     values are value types (Connect, not *Connect) and never alias the
//     packet they came from.
//   - Option negotiation: Negotiate (the filter's answer to SMFIC_OPTNEG, with
//     libmilter's rules), CheckReply (the MTA's check of that answer, with
//     Postfix's rules) and MaxPacketFor (the packet limit once
//     SMFIP_MDS_256K/1M is agreed).
//   - Helpers both sides need to stay in step: ProtoFlags.ReplyExpected,
//     ProtoFlags.Skips, RequiredAction, MacroStageFor, and ReplyCode
//     construction and validation.
//
// # Wire formats
//
// Strings are NUL-terminated; integers are big-endian. The data of each
// packet is:
//
//	O  OPTNEG      uint32 version, uint32 actions, uint32 protocol
//	               (as a reply: then zero or more uint32 stage + macro list NUL)
//	C  CONNECT     hostname NUL, family byte; unless family is 'U':
//	               uint16 port, address NUL ('L': port 0, socket path)
//	D  MACRO       stage byte (the command code it precedes), then
//	               name NUL value NUL pairs
//	H  HELO        name NUL
//	M  MAIL        "<sender>" NUL, then each ESMTP argument NUL
//	R  RCPT        "<recipient>" NUL, then each ESMTP argument NUL
//	L  HEADER      name NUL value NUL
//	B  BODY        raw body bytes (at most 65535 unless MDS was agreed)
//	E  BODYEOB     optional final raw body bytes
//	U  UNKNOWN     the SMTP command line NUL
//	T N A Q K      DATA, EOH, ABORT, QUIT, QUIT_NC: no data
//
//	y  REPLYCODE   "550 5.7.1 text" NUL (multi-line: lines joined by CRLF)
//	h  ADDHEADER   name NUL value NUL
//	i  INSHEADER   uint32 index, name NUL value NUL
//	m  CHGHEADER   uint32 index, name NUL value NUL (empty value: delete)
//	+  ADDRCPT     recipient NUL
//	2  ADDRCPT_PAR recipient NUL [ESMTP args NUL]
//	-  DELRCPT     recipient NUL
//	e  CHGFROM     sender NUL [ESMTP args NUL]
//	b  REPLBODY    raw body bytes
//	q  QUARANTINE  reason NUL
//	l  SETSYMLIST  uint32 stage, macro names NUL
//	c a r t d s f 4 p  no data
//
// Decoding is strict: a string without its NUL, trailing bytes where the
// format has none, an odd number of macro strings, an unknown family or
// code, or more than MaxStrings strings in one packet are errors. Every
// error is a *ProtocolError that errors.Is matches against the sentinel
// errors (ErrPacketTooLarge, ErrEmptyPacket, ErrMissingNUL,
// ErrUnknownCommand, ErrUnknownReply, ErrMalformed) or io.ErrUnexpectedEOF.
// Nothing panics on bad input; the fuzz targets in this package check it.
//
// Encoding cannot fail: a NUL byte inside a string cannot be carried by the
// wire format, so Encode cuts every string at its first NUL rather than let
// it split into extra fields.
//
// # What it does not do
//
// It holds no session state, does no I/O beyond the Reader and Writer it is
// given, sets no deadlines and keeps no logs. It does not decide what a
// reply means for the SMTP transaction, interpret macros, apply the
// SMFIP_HDR_LEADSPC header convention, or undo Sendmail's doubling of '%'
// in reply texts: those belong to miltersrv and milterclient. The protocol
// is not an RFC; the references are libmilter (mfdef.h, engine.c) and
// Postfix (src/milter/milter8.c).
package milter
