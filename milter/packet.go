package milter

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
)

// Size limits.
const (
	// ChunkSize is the largest body chunk an MTA sends without an agreed
	// data-size extension (MILTER_CHUNK_SIZE in libmilter and Postfix).
	ChunkSize = 65535
	// ChunkSize256K and ChunkSize1M are the largest data sizes once
	// SMFIP_MDS_256K or SMFIP_MDS_1M is agreed (MILTER_MDS_256K/1M).
	ChunkSize256K = 256*1024 - 1
	ChunkSize1M   = 1024*1024 - 1

	// packetSlack is what a packet limit allows beyond the chunk size, for
	// the code byte and a little headroom.
	packetSlack = 1024

	// DefaultMaxPacket is the default limit on a packet's length prefix: a
	// little over libmilter's 64 KiB body chunk.
	DefaultMaxPacket = ChunkSize + packetSlack

	// initialBuffer is the first allocation of a Reader's buffer when a
	// packet needs more than it has; the buffer then doubles only as bytes
	// actually arrive, so a peer cannot make us allocate a large buffer by
	// announcing a length it never sends.
	initialBuffer = 4096
)

// Packet is one framed message: a code byte and its data. On the wire it is
// a uint32 big-endian length (covering the code byte and the data), the
// code, then the data.
type Packet struct {
	Code byte
	Data []byte
}

// String describes the packet for logs, e.g. "SMFIC_HELO len=12". Since
// 'O' is both a command and a reply, names are those of commands when the
// code is one.
func (p Packet) String() string {
	return codeName(p.Code) + " len=" + strconv.Itoa(len(p.Data))
}

// Reader reads packets from a stream. It is not safe for concurrent use.
type Reader struct {
	br  *bufio.Reader
	max int
	hdr [4]byte
	buf []byte
}

// NewReader returns a Reader that rejects packets whose length prefix
// exceeds maxLen bytes; maxLen <= 0 means DefaultMaxPacket. The Reader
// buffers its input, so it must be the only reader of r.
func NewReader(r io.Reader, maxLen int) *Reader {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, initialBuffer)
	}
	rd := &Reader{br: br}
	rd.SetMaxLen(maxLen)
	return rd
}

// SetMaxLen changes the packet length limit, e.g. to MaxPacketFor(agreed)
// after SMFIP_MDS_256K or SMFIP_MDS_1M was negotiated. n <= 0 means
// DefaultMaxPacket.
func (r *Reader) SetMaxLen(n int) {
	if n <= 0 {
		n = DefaultMaxPacket
	}
	r.max = n
}

// MaxLen returns the current packet length limit.
func (r *Reader) MaxLen() int { return r.max }

// ReadPacket reads the next packet.
//
// The returned Data aliases a buffer inside the Reader: it is valid only
// until the next call to ReadPacket. DecodeCommand and DecodeResponse copy
// what they keep, so their results stay valid.
//
// At a clean end of stream (no byte of a new packet read) the error is
// io.EOF. A stream cut inside a packet gives an error matching
// io.ErrUnexpectedEOF; a zero length gives ErrEmptyPacket; a length above
// the limit gives ErrPacketTooLarge, before anything is allocated. After an
// error the stream is out of step and should be closed. Other errors come
// from the underlying reader, wrapped.
func (r *Reader) ReadPacket() (Packet, error) {
	if _, err := io.ReadFull(r.br, r.hdr[:]); err != nil {
		return Packet{}, readErr(err, "length prefix")
	}
	n := binary.BigEndian.Uint32(r.hdr[:])
	if n == 0 {
		return Packet{}, protoErr(0, ErrEmptyPacket, "length prefix is 0")
	}
	if uint64(n) > uint64(r.max) {
		return Packet{}, protoErr(0, ErrPacketTooLarge,
			fmt.Sprintf("length %d exceeds limit %d", n, r.max))
	}
	b, err := r.fill(int(n))
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return Packet{}, readErr(err, fmt.Sprintf("packet of length %d", n))
	}
	return Packet{Code: b[0], Data: b[1:]}, nil
}

// fill reads exactly n bytes into r.buf, growing it as data arrives.
func (r *Reader) fill(n int) ([]byte, error) {
	if n <= cap(r.buf) {
		b := r.buf[:n]
		_, err := io.ReadFull(r.br, b)
		return b, err
	}
	b := r.buf[:0]
	for len(b) < n {
		want := min(n, max(2*cap(b), initialBuffer))
		if want > cap(b) {
			nb := make([]byte, len(b), want)
			copy(nb, b)
			b = nb
			r.buf = nb
		}
		m, err := io.ReadFull(r.br, b[len(b):want])
		b = b[:len(b)+m]
		if err != nil {
			if len(b) > 0 && errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	r.buf = b
	return b, nil
}

// readErr classifies an error from the underlying stream.
func readErr(err error, what string) error {
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		return protoErr(0, io.ErrUnexpectedEOF, "truncated "+what)
	case err == io.EOF && what == "length prefix":
		return io.EOF
	}
	return fmt.Errorf("milter: reading %s: %w", what, err)
}

// Writer writes packets to a stream through a buffer. Nothing reaches the
// stream before Flush (or until the buffer fills). It is not safe for
// concurrent use.
type Writer struct {
	bw  *bufio.Writer
	hdr [5]byte
}

// NewWriter returns a buffered Writer on w.
func NewWriter(w io.Writer) *Writer {
	return &Writer{bw: bufio.NewWriterSize(w, initialBuffer)}
}

// WritePacket frames p into the buffer; it does not flush. A packet whose
// data does not fit the 32-bit length prefix is refused with
// ErrPacketTooLarge.
func (w *Writer) WritePacket(p Packet) error {
	if uint64(len(p.Data)) >= math.MaxUint32 {
		return protoErr(p.Code, ErrPacketTooLarge,
			fmt.Sprintf("%d data bytes do not fit the length prefix", len(p.Data)))
	}
	binary.BigEndian.PutUint32(w.hdr[:4], uint32(len(p.Data)+1))
	w.hdr[4] = p.Code
	if _, err := w.bw.Write(w.hdr[:]); err != nil {
		return fmt.Errorf("milter: writing packet: %w", err)
	}
	if _, err := w.bw.Write(p.Data); err != nil {
		return fmt.Errorf("milter: writing packet: %w", err)
	}
	return nil
}

// Flush writes the buffered packets to the stream.
func (w *Writer) Flush() error {
	if err := w.bw.Flush(); err != nil {
		return fmt.Errorf("milter: flushing: %w", err)
	}
	return nil
}

// Buffered returns the number of bytes waiting for Flush.
func (w *Writer) Buffered() int { return w.bw.Buffered() }

// Buffered returns the number of bytes already read from the stream and
// not yet returned in a packet.
func (r *Reader) Buffered() int { return r.br.Buffered() }
