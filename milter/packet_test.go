package milter

import (
	"bytes"
	"errors"
	"io"
	"math"
	"runtime"
	"strings"
	"testing"
	"testing/iotest"
)

func TestReadPacketSequence(t *testing.T) {
	wire := "\x00\x00\x00\x01c" + "\x00\x00\x00\x03Hx\x00" + "\x00\x00\x00\x01Q"
	// One byte at a time, so every read boundary is exercised.
	r := NewReader(iotest.OneByteReader(strings.NewReader(wire)), 0)
	want := []Packet{{'c', nil}, {'H', []byte("x\x00")}, {'Q', nil}}
	for i, w := range want {
		p, err := r.ReadPacket()
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		if p.Code != w.Code || !bytes.Equal(p.Data, w.Data) {
			t.Fatalf("packet %d: got %c %q, want %c %q", i, p.Code, p.Data, w.Code, w.Data)
		}
	}
	if _, err := r.ReadPacket(); err != io.EOF {
		t.Fatalf("at end: %v, want io.EOF exactly", err)
	}
}

func TestReadPacketErrors(t *testing.T) {
	tests := []struct {
		name string
		wire string
		max  int
		want error
	}{
		{"empty packet", "\x00\x00\x00\x00", 0, ErrEmptyPacket},
		{"over default max", "\x00\x01\x04\x01B", 0, ErrPacketTooLarge},
		{"over small max", "\x00\x00\x00\x0bHmx.exampl\x00", 10, ErrPacketTooLarge},
		{"huge length", "\xff\xff\xff\xff", 0, ErrPacketTooLarge},
		{"truncated length", "\x00\x00", 0, io.ErrUnexpectedEOF},
		{"truncated code", "\x00\x00\x00\x01", 0, io.ErrUnexpectedEOF},
		{"truncated data", "\x00\x00\x00\x05Hab", 0, io.ErrUnexpectedEOF},
		{"truncated large data", "\x00\x00\x40\x00B" + strings.Repeat("x", 5000), 0, io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewReader(strings.NewReader(tt.wire), tt.max).ReadPacket()
			if !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
			var pe *ProtocolError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T is not a *ProtocolError", err)
			}
		})
	}
}

func TestReadPacketLimitIsInclusive(t *testing.T) {
	wire := "\x00\x00\x00\x0bHmx.exampl\x00" // length 11
	if _, err := NewReader(strings.NewReader(wire), 11).ReadPacket(); err != nil {
		t.Fatalf("length 11 with limit 11: %v", err)
	}
	r := NewReader(strings.NewReader(wire+wire), 11)
	if _, err := r.ReadPacket(); err != nil {
		t.Fatal(err)
	}
	r.SetMaxLen(10)
	if r.MaxLen() != 10 {
		t.Fatalf("MaxLen %d after SetMaxLen(10)", r.MaxLen())
	}
	if _, err := r.ReadPacket(); !errors.Is(err, ErrPacketTooLarge) {
		t.Fatalf("length 11 with limit 10: %v", err)
	}
	r.SetMaxLen(0)
	if r.MaxLen() != DefaultMaxPacket {
		t.Fatalf("SetMaxLen(0) gives %d, want DefaultMaxPacket", r.MaxLen())
	}
}

// TestReadPacketAllocation: an announced length is not allocated up front,
// neither when it is over the limit nor when the peer never sends the bytes.
func TestReadPacketAllocation(t *testing.T) {
	tests := []struct {
		name string
		wire string
		max  int
		want error
	}{
		{"over limit", "\x7f\xff\xff\xffB", math.MaxInt32 - 1, ErrPacketTooLarge},
		{"announced but not sent", "\x00\xf0\x00\x00B" + strings.Repeat("x", 100), 16 << 20, io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := NewReader(strings.NewReader(tt.wire), tt.max).ReadPacket()
			runtime.ReadMemStats(&after)
			if !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
			if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
				t.Fatalf("allocated %d bytes for a packet that never came", n)
			}
		})
	}
}

func TestReadPacketGrowsAndReuses(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 70000/16)
	var buf bytes.Buffer
	w := NewWriter(&buf)
	for _, p := range []Packet{{CmdBody, big}, {CmdHelo, []byte("h\x00")}, {CmdBody, big[:100]}} {
		if err := w.WritePacket(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	r := NewReader(iotest.HalfReader(&buf), MaxPacketFor(ProtoMDS256K))
	p1, err := r.ReadPacket()
	if err != nil || !bytes.Equal(p1.Data, big) {
		t.Fatalf("big packet: err %v, %d bytes", err, len(p1.Data))
	}
	p2, err := r.ReadPacket()
	if err != nil || string(p2.Data) != "h\x00" {
		t.Fatalf("small packet: err %v, %q", err, p2.Data)
	}
	// Documented: Data aliases the reader's buffer until the next read.
	if &p1.Data[0] != &p2.Data[0] {
		t.Fatalf("second packet did not reuse the buffer")
	}
	if _, err := r.ReadPacket(); err != nil {
		t.Fatal(err)
	}
}

func TestWriterBuffersUntilFlush(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	if err := w.WritePacket(Continue{}.Encode()); err != nil {
		t.Fatal(err)
	}
	if buf.Len() != 0 || w.Buffered() != 5 {
		t.Fatalf("before Flush: stream has %d bytes, buffer %d", buf.Len(), w.Buffered())
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if buf.String() != "\x00\x00\x00\x01c" {
		t.Fatalf("after Flush: %q", buf.String())
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("boom") }

func TestWriterErrors(t *testing.T) {
	w := NewWriter(failWriter{})
	if err := w.WritePacket(Quit{}.Encode()); err != nil {
		t.Fatalf("buffered write failed early: %v", err)
	}
	if err := w.Flush(); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("Flush error %v, want the stream's error", err)
	}
	// A large packet bypasses the buffer and fails at once.
	if err := w.WritePacket(Body{Chunk: make([]byte, 10000)}.Encode()); err == nil {
		t.Fatal("WritePacket on a failed stream succeeded")
	}
}

func TestReaderWrapsStreamErrors(t *testing.T) {
	boom := errors.New("boom")
	_, err := NewReader(iotest.ErrReader(boom), 0).ReadPacket()
	if !errors.Is(err, boom) {
		t.Fatalf("error %v does not wrap the stream's error", err)
	}
}

func TestProtocolErrorMessage(t *testing.T) {
	_, err := DecodeCommand(Packet{Code: CmdHelo, Data: []byte("mx")})
	if got, want := err.Error(), "milter: string without NUL terminator in SMFIC_HELO: HELO name"; got != want {
		t.Fatalf("message %q, want %q", got, want)
	}
	_, err = NewReader(strings.NewReader("\x00\x00"), 0).ReadPacket()
	if got, want := err.Error(), "milter: unexpected EOF: truncated length prefix"; got != want {
		t.Fatalf("message %q, want %q", got, want)
	}
}
