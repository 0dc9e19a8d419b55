package milter

import (
	"errors"
	"strings"
)

// Sentinel errors. Every error this package returns for bad input is a
// *ProtocolError wrapping one of these (or io.ErrUnexpectedEOF), so callers
// test with errors.Is.
var (
	// ErrPacketTooLarge: the length prefix exceeds the reader's limit (the
	// check happens before any allocation), or a packet to write does not
	// fit the 32-bit length.
	ErrPacketTooLarge = errors.New("milter: packet too large")
	// ErrEmptyPacket: the length prefix is zero, so there is no code byte.
	ErrEmptyPacket = errors.New("milter: empty packet")
	// ErrMissingNUL: a string field is not NUL-terminated.
	ErrMissingNUL = errors.New("milter: string without NUL terminator")
	// ErrUnknownCommand: DecodeCommand got a code that is not an SMFIC_*.
	ErrUnknownCommand = errors.New("milter: unknown command")
	// ErrUnknownReply: DecodeResponse got a code that is not an SMFIR_*
	// (or SMFIC_OPTNEG).
	ErrUnknownReply = errors.New("milter: unknown reply")
	// ErrMalformed: wrong field count or size, trailing bytes, a bad
	// address family, an odd number of macro strings, a bad reply text.
	ErrMalformed = errors.New("milter: malformed packet")
	// ErrNegotiation: the two sides of SMFIC_OPTNEG cannot agree.
	ErrNegotiation = errors.New("milter: option negotiation failed")
)

// ProtocolError describes a bad packet: which code (0 when the packet was
// not read far enough to know it), which sentinel error, and a detail for
// humans. errors.Is(err, ErrMissingNUL) and the like see through it.
type ProtocolError struct {
	Code   byte   // packet code, 0 if unknown
	Err    error  // a sentinel error of this package, or io.ErrUnexpectedEOF
	Detail string // what exactly was wrong, e.g. "HELO name"
}

// Error formats as "milter: <error>[ in <CODE NAME>][: detail]".
func (e *ProtocolError) Error() string {
	var b strings.Builder
	msg := "<nil>"
	if e.Err != nil {
		msg = e.Err.Error()
	}
	if !strings.HasPrefix(msg, "milter: ") {
		b.WriteString("milter: ")
	}
	b.WriteString(msg)
	if e.Code != 0 {
		b.WriteString(" in ")
		b.WriteString(codeName(e.Code))
	}
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	return b.String()
}

// Unwrap returns the sentinel error.
func (e *ProtocolError) Unwrap() error { return e.Err }

func protoErr(code byte, err error, detail string) error {
	return &ProtocolError{Code: code, Err: err, Detail: detail}
}
