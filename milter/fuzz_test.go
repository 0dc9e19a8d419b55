package milter

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"
)

// Seeds for these targets live in testdata/fuzz/<FuzzName>/ and are
// replayed by a plain `go test`.

const fuzzMaxPacket = 4096

// FuzzReadPacket feeds arbitrary bytes to a Reader: it must never panic,
// never return a packet over its limit, and every packet it returns must
// re-encode to exactly the bytes it was read from.
func FuzzReadPacket(f *testing.F) {
	f.Fuzz(func(t *testing.T, wire []byte) {
		r := NewReader(bytes.NewReader(wire), fuzzMaxPacket)
		off := 0
		for range 1000 {
			p, err := r.ReadPacket()
			if err != nil {
				checkReadErr(t, err)
				return
			}
			if len(p.Data)+1 > fuzzMaxPacket {
				t.Fatalf("packet of %d bytes passed a limit of %d", len(p.Data)+1, fuzzMaxPacket)
			}
			var buf bytes.Buffer
			w := NewWriter(&buf)
			if err := w.WritePacket(p); err != nil {
				t.Fatal(err)
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf.Bytes(), wire[off:off+buf.Len()]) {
				t.Fatalf("re-encoded %q, read from %q", buf.Bytes(), wire[off:off+buf.Len()])
			}
			off += buf.Len()
			// Whatever came in, decoding must not panic.
			_, _ = DecodeCommand(p)
			_, _ = DecodeResponse(p)
		}
	})
}

func checkReadErr(t *testing.T, err error) {
	t.Helper()
	if err == io.EOF {
		return
	}
	var pe *ProtocolError
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T) is neither io.EOF nor a *ProtocolError", err, err)
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, ErrEmptyPacket) && !errors.Is(err, ErrPacketTooLarge) {
		t.Fatalf("unexpected read error %v", err)
	}
}

// FuzzDecodeCommand: DecodeCommand must never panic; what it accepts must
// encode back to the very same bytes, and must not alias the input.
func FuzzDecodeCommand(f *testing.F) {
	f.Fuzz(func(t *testing.T, code byte, data []byte) {
		in := bytes.Clone(data)
		c, err := DecodeCommand(Packet{Code: code, Data: in})
		if err != nil {
			checkDecodeFuzzErr(t, c, err)
			return
		}
		p := c.Encode()
		if p.Code != code || c.Code() != code || !bytes.Equal(p.Data, data) {
			t.Fatalf("%v re-encodes to %c %q, decoded from %c %q", c, p.Code, p.Data, code, data)
		}
		checkNoAlias(t, c, in, func() (any, error) { return DecodeCommand(Packet{Code: code, Data: data}) })
		_ = c.(interface{ String() string }).String()
	})
}

// FuzzDecodeResponse: DecodeResponse must never panic; what it accepts
// must survive encode/decode unchanged (and encode to the same bytes
// except where an empty optional argument is dropped), and must not alias
// the input.
func FuzzDecodeResponse(f *testing.F) {
	f.Fuzz(func(t *testing.T, code byte, data []byte) {
		in := bytes.Clone(data)
		r, err := DecodeResponse(Packet{Code: code, Data: in})
		if err != nil {
			checkDecodeFuzzErr(t, r, err)
			return
		}
		p := r.Encode()
		if p.Code != code || r.Code() != code {
			t.Fatalf("%v re-encodes with code %c, decoded from %c", r, p.Code, code)
		}
		optional := code == RespChangeFrom || code == RespAddRcptPar
		if !optional && !bytes.Equal(p.Data, data) {
			t.Fatalf("%v re-encodes to %q, decoded from %q", r, p.Data, data)
		}
		again, err := DecodeResponse(p)
		if err != nil || !reflect.DeepEqual(again, r) {
			t.Fatalf("re-decoding %v gives %v, %v", r, again, err)
		}
		checkNoAlias(t, r, in, func() (any, error) { return DecodeResponse(Packet{Code: code, Data: data}) })
		_ = r.(interface{ String() string }).String()
	})
}

func checkDecodeFuzzErr(t *testing.T, v any, err error) {
	t.Helper()
	if v != nil {
		t.Fatalf("value %#v returned with error %v", v, err)
	}
	var pe *ProtocolError
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T) is not a *ProtocolError", err, err)
	}
	for _, s := range []error{ErrUnknownCommand, ErrUnknownReply, ErrMissingNUL, ErrMalformed} {
		if errors.Is(err, s) {
			return
		}
	}
	t.Fatalf("error %v matches no sentinel", err)
}

// checkNoAlias scribbles over the buffer v was decoded from and checks v
// still equals a fresh decode of the original bytes.
func checkNoAlias(t *testing.T, v any, in []byte, fresh func() (any, error)) {
	t.Helper()
	for i := range in {
		in[i] ^= 0xff
	}
	want, err := fresh()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(v, want) {
		t.Fatalf("decoded value aliases its packet: now %#v, want %#v", v, want)
	}
}
