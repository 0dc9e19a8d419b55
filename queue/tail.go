package queue

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
)

// A committed content file ends with its message's first record, so that
// a commit creates, fsyncs and renames one file:
//
//	body | header section | record JSON | trailer
//
// The trailer is one fixed-size text line that locates the record from
// the end of the file:
//
//	"\nsluice-record/1 " + 10 decimal digits (record length) + " " +
//	8 hex digits (CRC-32C of the record) + "\n"
//
// The content the record describes is the first Size bytes; Size plus the
// record plus the trailer is the file's size.
const (
	trailerMagic = "\nsluice-record/1 "
	trailerLen   = len(trailerMagic) + 10 + 1 + 8 + 1
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// appendTail appends the record rec and its trailer to b.
func appendTail(b, rec []byte) []byte {
	b = append(b, rec...)
	return fmt.Appendf(b, "%s%010d %08x\n", trailerMagic, len(rec), crc32.Checksum(rec, castagnoli))
}

// parseTrailer decodes a trailer; it returns the record's length and CRC.
func parseTrailer(t []byte) (n int64, sum uint32, err error) {
	bad := errors.New("no valid record trailer at the end of the content file")
	if len(t) != trailerLen || string(t[:len(trailerMagic)]) != trailerMagic || t[trailerLen-1] != '\n' {
		return 0, 0, bad
	}
	digits, hex := t[len(trailerMagic):len(trailerMagic)+10], t[len(trailerMagic)+11:trailerLen-1]
	if t[len(trailerMagic)+10] != ' ' || !allIn(digits, "0123456789") || !allIn(hex, "0123456789abcdef") {
		return 0, 0, bad
	}
	n, _ = strconv.ParseInt(string(digits), 10, 64)
	s, _ := strconv.ParseUint(string(hex), 16, 32)
	if n > maxRecordSize {
		return 0, 0, fmt.Errorf("embedded record is %d bytes, more than %d", n, maxRecordSize)
	}
	return n, uint32(s), nil
}

func allIn(b []byte, set string) bool {
	for _, c := range b {
		if strings.IndexByte(set, c) < 0 {
			return false
		}
	}
	return true
}

// readTrailer reads the trailer of a content file of fileSize bytes and
// returns the record's length, its CRC and the size of the content before
// it.
func readTrailer(f io.ReaderAt, fileSize int64) (recLen int64, sum uint32, size int64, err error) {
	if fileSize < int64(trailerLen) {
		return 0, 0, 0, fmt.Errorf("content file of %d bytes has no record trailer", fileSize)
	}
	t := make([]byte, trailerLen)
	if _, err := f.ReadAt(t, fileSize-int64(trailerLen)); err != nil {
		return 0, 0, 0, err
	}
	if recLen, sum, err = parseTrailer(t); err != nil {
		return 0, 0, 0, err
	}
	size = fileSize - int64(trailerLen) - recLen
	if size < 0 {
		return 0, 0, 0, fmt.Errorf("embedded record of %d bytes in a content file of %d", recLen, fileSize)
	}
	return recLen, sum, size, nil
}

// readEmbedded reads and decodes the record at the end of content file f
// of fileSize bytes, and returns it with the content's size.
func readEmbedded(f io.ReaderAt, fileSize int64) (*Record, int64, error) {
	recLen, sum, size, err := readTrailer(f, fileSize)
	if err != nil {
		return nil, 0, err
	}
	b := make([]byte, recLen)
	if _, err := f.ReadAt(b, size); err != nil {
		return nil, 0, err
	}
	if crc32.Checksum(b, castagnoli) != sum {
		return nil, 0, errors.New("embedded record fails its checksum")
	}
	r, err := decodeRecord(b)
	if err != nil {
		return nil, 0, fmt.Errorf("bad embedded record: %w", err)
	}
	return r, size, nil
}

// errRecord marks a failure of q/ID.json (as opposed to the content file)
// in loadMessage.
type errRecord struct{ err error }

func (e errRecord) Error() string { return e.err.Error() }
func (e errRecord) Unwrap() error { return e.err }

// loadMessage reads message id: the record embedded in q/ID.msg, replaced
// by q/ID.json when that exists (a later state), each checked against the
// content. A missing q/ID.msg is fs.ErrNotExist (the message is not, or no
// longer, queued, whatever q/ID.json says). A failure of q/ID.json is an
// errRecord.
func (q *Queue) loadMessage(id string) (*Record, error) {
	f, err := os.Open(q.msgPath(id))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	r, size, err := readEmbedded(f, fi.Size())
	if err != nil {
		return nil, err
	}
	if err := checkLoaded(r, id, size); err != nil {
		return nil, fmt.Errorf("embedded record: %w", err)
	}
	j, err := readRecord(q.recPath(id))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return r, nil
	case err != nil:
		return nil, errRecord{err}
	}
	if err := checkLoaded(j, id, size); err != nil {
		return nil, errRecord{fmt.Errorf("record: %w", err)}
	}
	return j, nil
}

// checkLoaded checks that record r belongs to message id with content of
// size bytes.
func checkLoaded(r *Record, id string, size int64) error {
	if r.ID != id {
		return fmt.Errorf("names ID %q", r.ID)
	}
	if r.Size != size {
		return fmt.Errorf("content is %d bytes, record says %d", size, r.Size)
	}
	return nil
}
