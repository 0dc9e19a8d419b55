package milterclient

import (
	"fmt"
	"io"
	"os"
)

// bodySpool holds a replaced body as the milter streams it: in memory up
// to memMax bytes, then in an unlinked temporary file, never more than max
// bytes. It is reused from message to message of a session.
type bodySpool struct {
	dir    string
	memMax int
	max    int64

	mem     []byte
	f       *os.File
	name    string // set while the file could not be unlinked at once
	n       int64
	afterCR bool   // the last byte written was CR
	scratch []byte // for line-end conversion
}

// writeCRLF appends p with bare LF line ends turned into CRLF, as the
// filter package wants bodies (milters written for Sendmail may send LF;
// Postfix accepts both). A CR before an LF in the next chunk counts.
func (b *bodySpool) writeCRLF(p []byte) error {
	out := b.scratch[:0]
	start := 0
	for i, c := range p {
		if c != '\n' || (i > 0 && p[i-1] == '\r') || (i == 0 && b.afterCR) {
			continue
		}
		out = append(append(out, p[start:i]...), '\r')
		start = i
	}
	if len(p) > 0 {
		b.afterCR = p[len(p)-1] == '\r'
	}
	if start == 0 && len(out) == 0 {
		return b.write(p)
	}
	out = append(out, p[start:]...)
	b.scratch = out[:0]
	return b.write(out)
}

func newBodySpool(dir string, memMax int, max int64) *bodySpool {
	return &bodySpool{dir: dir, memMax: memMax, max: max}
}

// write appends p.
func (b *bodySpool) write(p []byte) error {
	if b.n+int64(len(p)) > b.max {
		return fmt.Errorf("replaced body exceeds %d bytes", b.max)
	}
	if b.f == nil && len(b.mem)+len(p) <= b.memMax {
		b.mem = append(b.mem, p...)
		b.n += int64(len(p))
		return nil
	}
	if b.f == nil {
		if err := b.spill(); err != nil {
			return err
		}
	}
	if _, err := b.f.Write(p); err != nil {
		return fmt.Errorf("spooling the replaced body: %w", err)
	}
	b.n += int64(len(p))
	return nil
}

// spill moves what is in memory to a new temporary file.
func (b *bodySpool) spill() error {
	f, err := os.CreateTemp(b.dir, "sluice-milterclient-*")
	if err != nil {
		return fmt.Errorf("spooling the replaced body: %w", err)
	}
	if os.Remove(f.Name()) != nil {
		b.name = f.Name() // removed at reset instead
	}
	if _, err := f.Write(b.mem); err != nil {
		f.Close()
		return fmt.Errorf("spooling the replaced body: %w", err)
	}
	b.f = f
	b.mem = b.mem[:0]
	return nil
}

// reader returns a reader over the whole body, valid until reset. It may
// be created before the last write: it reads what is there when read.
func (b *bodySpool) reader() io.Reader { return &spoolReader{b: b} }

// reset forgets the body, closing and removing any file.
func (b *bodySpool) reset() {
	if b.f != nil {
		b.f.Close()
		b.f = nil
	}
	if b.name != "" {
		os.Remove(b.name)
		b.name = ""
	}
	if cap(b.mem) > b.memMax {
		b.mem = nil
	}
	b.mem = b.mem[:0]
	b.n = 0
	b.afterCR = false
	if cap(b.scratch) > b.memMax {
		b.scratch = nil
	}
}

type spoolReader struct {
	b   *bodySpool
	off int64
}

func (r *spoolReader) Read(p []byte) (int, error) {
	if r.off >= r.b.n {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	p = p[:min(int64(len(p)), r.b.n-r.off)]
	var n int
	var err error
	if r.b.f != nil {
		n, err = r.b.f.ReadAt(p, r.off)
		if err == io.EOF && n > 0 {
			err = nil
		}
	} else {
		n = copy(p, r.b.mem[r.off:])
	}
	r.off += int64(n)
	return n, err
}
