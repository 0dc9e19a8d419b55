package dkim

import (
	"bytes"
	"fmt"
	"io"
	"os"
)

// spool keeps one message: in memory up to memMax bytes, then in an
// unlinked temporary file, up to limit bytes in all. Past the limit it
// keeps nothing and reports over; after a write error, err.
type spool struct {
	limit  int64
	memMax int
	dir    string

	mem  []byte
	file *os.File // unlinked; holds everything once created
	size int64
	over bool
	err  error
}

// write appends p.
func (s *spool) write(p []byte) {
	if s.over || s.err != nil {
		return
	}
	if s.size+int64(len(p)) > s.limit {
		s.release()
		s.over = true
		return
	}
	if s.file == nil && len(s.mem)+len(p) <= s.memMax {
		s.mem = append(s.mem, p...)
		s.size += int64(len(p))
		return
	}
	if s.file == nil {
		if s.err = s.spill(); s.err != nil {
			return
		}
	}
	if _, err := s.file.Write(p); err != nil {
		s.err = fmt.Errorf("dkim: keeping the message: %w", err)
		return
	}
	s.size += int64(len(p))
}

func (s *spool) writeString(str string) { s.write([]byte(str)) }

// spill moves what memory holds to a new unlinked temporary file.
func (s *spool) spill() error {
	dir := s.dir
	if dir == "" {
		dir = os.TempDir()
	}
	f, err := os.CreateTemp(dir, "sluice-dkim-*")
	if err != nil {
		return fmt.Errorf("dkim: keeping the message: %w", err)
	}
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return fmt.Errorf("dkim: keeping the message: %w", err)
	}
	if _, err := f.Write(s.mem); err != nil {
		f.Close()
		return fmt.Errorf("dkim: keeping the message: %w", err)
	}
	s.file, s.mem = f, s.mem[:0]
	return nil
}

// reader reads the message kept from its start; each call starts anew.
func (s *spool) reader() io.Reader {
	if s.file != nil {
		return io.NewSectionReader(s.file, 0, s.size)
	}
	return bytes.NewReader(s.mem)
}

// spilled reports whether the message went to a file.
func (s *spool) spilled() bool { return s.file != nil }

func (s *spool) release() {
	if s.file != nil {
		s.file.Close()
		s.file = nil
	}
	s.mem = s.mem[:0]
}

// reset forgets the message, keeping the memory buffer for the next.
func (s *spool) reset() {
	s.release()
	s.size, s.over, s.err = 0, false, nil
}
