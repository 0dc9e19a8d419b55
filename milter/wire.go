package milter

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
)

// MaxStrings is the most NUL-terminated strings DecodeCommand and
// DecodeResponse accept in one packet (MAIL/RCPT arguments, macro names and
// values). Real MTAs send a few dozen; the limit keeps the slice a decoder
// allocates small whatever the packet holds.
const MaxStrings = 1024

// cstrLen is the encoded size of s: its bytes up to the first NUL, plus the
// terminating NUL.
func cstrLen(s string) int {
	if i := strings.IndexByte(s, 0); i >= 0 {
		return i + 1
	}
	return len(s) + 1
}

// appendCStr appends s, cut at its first NUL, and a NUL terminator.
func appendCStr(b []byte, s string) []byte {
	if i := strings.IndexByte(s, 0); i >= 0 {
		s = s[:i]
	}
	b = append(b, s...)
	return append(b, 0)
}

func appendU32(b []byte, v uint32) []byte { return binary.BigEndian.AppendUint32(b, v) }

// encodeStrings builds a packet of consecutive NUL-terminated strings.
func encodeStrings(code byte, ss ...string) Packet {
	n := 0
	for _, s := range ss {
		n += cstrLen(s)
	}
	b := make([]byte, 0, n)
	for _, s := range ss {
		b = appendCStr(b, s)
	}
	return Packet{Code: code, Data: b}
}

// fields parses a packet's data. It works on one string copy of the data,
// so every string it returns shares that single allocation and none
// aliases the packet.
type fields struct {
	code byte
	s    string
}

func newFields(p Packet) fields {
	return fields{code: p.Code, s: string(p.Data)}
}

func (f *fields) malformed(format string, args ...any) error {
	return protoErr(f.code, ErrMalformed, fmt.Sprintf(format, args...))
}

// str takes one NUL-terminated string.
func (f *fields) str(what string) (string, error) {
	i := strings.IndexByte(f.s, 0)
	if i < 0 {
		return "", protoErr(f.code, ErrMissingNUL, what)
	}
	v := f.s[:i]
	f.s = f.s[i+1:]
	return v, nil
}

// u32 takes a big-endian uint32.
func (f *fields) u32(what string) (uint32, error) {
	if len(f.s) < 4 {
		return 0, f.malformed("%s: need 4 bytes, have %d", what, len(f.s))
	}
	v := uint32(f.s[0])<<24 | uint32(f.s[1])<<16 | uint32(f.s[2])<<8 | uint32(f.s[3])
	f.s = f.s[4:]
	return v, nil
}

// u16 takes a big-endian uint16.
func (f *fields) u16(what string) (uint16, error) {
	if len(f.s) < 2 {
		return 0, f.malformed("%s: need 2 bytes, have %d", what, len(f.s))
	}
	v := uint16(f.s[0])<<8 | uint16(f.s[1])
	f.s = f.s[2:]
	return v, nil
}

// octet takes one byte.
func (f *fields) octet(what string) (byte, error) {
	if len(f.s) < 1 {
		return 0, f.malformed("%s: missing", what)
	}
	v := f.s[0]
	f.s = f.s[1:]
	return v, nil
}

// strs takes all remaining data as NUL-terminated strings; it needs at
// least minN of them.
func (f *fields) strs(what string, minN int) ([]string, error) {
	if len(f.s) > 0 && f.s[len(f.s)-1] != 0 {
		return nil, protoErr(f.code, ErrMissingNUL, "last of "+what)
	}
	n := strings.Count(f.s, "\x00")
	if n < minN {
		return nil, f.malformed("%s: need at least %d strings, have %d", what, minN, n)
	}
	if n > MaxStrings {
		return nil, f.malformed("%s: %d strings exceed the limit of %d", what, n, MaxStrings)
	}
	if n == 0 {
		return nil, nil
	}
	out := make([]string, 0, n)
	for len(f.s) > 0 {
		i := strings.IndexByte(f.s, 0)
		out = append(out, f.s[:i])
		f.s = f.s[i+1:]
	}
	return out, nil
}

// optStr takes a NUL-terminated string if any data is left.
func (f *fields) optStr(what string) (string, error) {
	if len(f.s) == 0 {
		return "", nil
	}
	return f.str(what)
}

// end checks that nothing is left.
func (f *fields) end() error {
	if len(f.s) != 0 {
		return f.malformed("%d unexpected trailing bytes", len(f.s))
	}
	return nil
}

// noData checks that a packet which carries no data has none.
func noData(p Packet) error {
	if len(p.Data) != 0 {
		return protoErr(p.Code, ErrMalformed,
			fmt.Sprintf("%d unexpected data bytes", len(p.Data)))
	}
	return nil
}

// cloneChunk copies a body chunk; an empty chunk is nil.
func cloneChunk(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	c := make([]byte, len(b))
	copy(c, b)
	return c
}

// logLimit is how much of a string String methods show.
const logLimit = 200

// q quotes s for logs, cut to logLimit bytes.
func q(s string) string {
	if len(s) <= logLimit {
		return strconv.Quote(s)
	}
	return strconv.Quote(s[:logLimit]) + "…(+" + strconv.Itoa(len(s)-logLimit) + " bytes)"
}

// qList quotes each string of ss, space-separated.
func qList(ss []string) string {
	var b strings.Builder
	for i, s := range ss {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(q(s))
	}
	return b.String()
}

// header reads a header name and value, the pair every header packet
// (SMFIC_HEADER, SMFIR_ADDHEADER, SMFIR_INSHEADER, SMFIR_CHGHEADER) ends
// with.
func (f *fields) header() (name, value string, err error) {
	if name, err = f.str("header name"); err != nil {
		return "", "", err
	}
	if value, err = f.str("header value"); err != nil {
		return "", "", err
	}
	return name, value, nil
}
