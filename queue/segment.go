package queue

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
)

// Small messages are not stored one file each but appended to the current
// segment of the log (log/NNNNNNNNNNNN.seg), many per fsync. A segment is a
// sequence of entries:
//
//	"SLQ" kind(1) | payload length (uint32 BE) | CRC-32C of payload (uint32 BE) | payload
//
// kind 'P' (put) stores a message:
//
//	len(id) (uint8) | id | len(body) (uint64) | body | len(header) (uint32) | header | len(record) (uint32) | record JSON
//
// kind 'D' (delete) says the message put earlier under id is gone:
//
//	len(id) (uint8) | id
//
// A delete always follows its put in log order (segment number, then
// offset). Segments are removed oldest first, only when none of their puts
// is live, so a delete never disappears before the put it cancels.
const (
	segMagic     = "SLQ"
	segKindPut   = 'P'
	segKindDel   = 'D'
	segHeaderLen = len(segMagic) + 1 + 4 + 4
	// maxSegEntry bounds one entry's payload when a log is read.
	maxSegEntry = 1 << 30
)

// logLoc says where a message's content lies in the log.
type logLoc struct {
	seq     uint64 // segment number
	bodyOff int64  // offset of the body in the segment
	hdrOff  int64  // offset of the header section
}

// putPrefixLen is the length of a put entry before its body.
func putPrefixLen(id string) int { return segHeaderLen + 1 + len(id) + 8 }

// startPut returns a buffer holding the reserved prefix of a put entry for
// id; the body is appended to it, then finishPut completes the entry.
func startPut(buf []byte, id string) []byte {
	buf = append(buf[:0], make([]byte, putPrefixLen(id))...)
	return buf
}

// finishPut appends header and record to a buffer from startPut (with the
// body appended) and fills in the prefix. It returns the entry and the
// offsets of body and header within it.
func finishPut(buf []byte, id string, header, rec []byte) (entry []byte, bodyOff, hdrOff int64) {
	prefix := putPrefixLen(id)
	bodyLen := len(buf) - prefix
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(header)))
	hdrOff = int64(len(buf))
	buf = append(buf, header...)
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(rec)))
	buf = append(buf, rec...)
	p := buf[segHeaderLen:prefix]
	p[0] = byte(len(id))
	copy(p[1:], id)
	binary.BigEndian.PutUint64(p[1+len(id):], uint64(bodyLen))
	sealEntry(buf, segKindPut)
	return buf, int64(prefix), hdrOff
}

// delEntry returns the delete entry of id.
func delEntry(id string) []byte {
	b := make([]byte, segHeaderLen, segHeaderLen+1+len(id))
	b = append(b, byte(len(id)))
	b = append(b, id...)
	sealEntry(b, segKindDel)
	return b
}

// sealEntry writes the entry header of b, whose payload follows it.
func sealEntry(b []byte, kind byte) {
	copy(b, segMagic)
	b[len(segMagic)] = kind
	payload := b[segHeaderLen:]
	binary.BigEndian.PutUint32(b[4:], uint32(len(payload)))
	binary.BigEndian.PutUint32(b[8:], crc32.Checksum(payload, castagnoli))
}

// segEntry is one decoded entry of a segment.
type segEntry struct {
	kind   byte
	id     string
	rec    []byte // put: the record JSON (valid until the next entry)
	loc    logLoc // put: where the content is
	size   int64  // put: header and body bytes
	hsize  int64  // put: header bytes
	offset int64  // where the entry starts in the segment
}

// errTornEntry reports an entry that is cut short or fails its checksum:
// the end of what was written before a crash, or damage.
var errTornEntry = errors.New("incomplete or damaged log entry")

// scanSegment reads the entries of segment seq from r in order, calling fn
// for each. It returns the offset where the valid entries end; an entry
// that is cut short or damaged ends the scan with errTornEntry (wrapped)
// and everything after it is ignored.
func scanSegment(r io.Reader, seq uint64, fn func(*segEntry) error) (int64, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var off int64
	var payload []byte
	hdr := make([]byte, segHeaderLen)
	for {
		if _, err := io.ReadFull(br, hdr); err != nil {
			if err == io.EOF {
				return off, nil
			}
			return off, fmt.Errorf("%w at offset %d: %v", errTornEntry, off, err)
		}
		kind, n, sum := hdr[3], binary.BigEndian.Uint32(hdr[4:]), binary.BigEndian.Uint32(hdr[8:])
		if string(hdr[:3]) != segMagic || (kind != segKindPut && kind != segKindDel) || n > maxSegEntry {
			return off, fmt.Errorf("%w at offset %d: bad entry header", errTornEntry, off)
		}
		if cap(payload) < int(n) {
			payload = make([]byte, n)
		}
		payload = payload[:n]
		if _, err := io.ReadFull(br, payload); err != nil {
			return off, fmt.Errorf("%w at offset %d: %v", errTornEntry, off, err)
		}
		if crc32.Checksum(payload, castagnoli) != sum {
			return off, fmt.Errorf("%w at offset %d: checksum mismatch", errTornEntry, off)
		}
		e, err := decodeEntry(kind, payload, seq, off)
		if err != nil {
			return off, fmt.Errorf("%w at offset %d: %v", errTornEntry, off, err)
		}
		if err := fn(e); err != nil {
			return off, err
		}
		off += int64(segHeaderLen) + int64(n)
	}
}

// decodeEntry parses the payload of an entry that starts at off.
func decodeEntry(kind byte, p []byte, seq uint64, off int64) (*segEntry, error) {
	bad := errors.New("malformed payload")
	if len(p) < 1 || len(p) < 1+int(p[0]) {
		return nil, bad
	}
	e := &segEntry{kind: kind, id: string(p[1 : 1+int(p[0])]), offset: off}
	if !validID(e.id) {
		return nil, fmt.Errorf("bad queue ID %q", e.id)
	}
	rest := p[1+int(p[0]):]
	if kind == segKindDel {
		if len(rest) != 0 {
			return nil, bad
		}
		return e, nil
	}
	if len(rest) < 8 {
		return nil, bad
	}
	bodyLen := binary.BigEndian.Uint64(rest)
	if bodyLen > uint64(len(rest)-8) {
		return nil, bad
	}
	bodyStart := off + int64(segHeaderLen) + int64(1+int(p[0])) + 8
	rest = rest[8+bodyLen:]
	if len(rest) < 4 || uint64(binary.BigEndian.Uint32(rest)) > uint64(len(rest)-4) {
		return nil, bad
	}
	hdrLen := int(binary.BigEndian.Uint32(rest))
	rest = rest[4+hdrLen:]
	if len(rest) < 4 || int(binary.BigEndian.Uint32(rest)) != len(rest)-4 {
		return nil, bad
	}
	e.rec = rest[4:]
	e.hsize, e.size = int64(hdrLen), int64(bodyLen)+int64(hdrLen)
	e.loc = logLoc{seq: seq, bodyOff: bodyStart, hdrOff: bodyStart + int64(bodyLen) + 4}
	return e, nil
}

// segName is the file name of segment seq.
func segName(seq uint64) string { return fmt.Sprintf("%012d.seg", seq) }

// parseSegName returns the number of a segment file name.
func parseSegName(name string) (uint64, bool) {
	var seq uint64
	if len(name) != 16 || name[12:] != ".seg" {
		return 0, false
	}
	for _, c := range name[:12] {
		if c < '0' || c > '9' {
			return 0, false
		}
		seq = seq*10 + uint64(c-'0')
	}
	return seq, seq > 0
}

// logFound is a live message found by scanning the log.
type logFound struct {
	rec  *Record
	loc  logLoc
	size int64
}

// logScan is what scanLog found: the live messages, the segments (sorted)
// and the messages whose entry could not be read.
type logScan struct {
	live  map[string]logFound
	segs  []uint64
	bad   map[string]error
	torn  map[uint64]error // segments whose scan ended early
	order []string         // live IDs in log order
}

// scanLog reads every segment of dir in order.
func scanLog(dir string) (*logScan, error) {
	names, err := readDirNames(dir)
	if err != nil {
		return nil, err
	}
	s := &logScan{live: map[string]logFound{}, bad: map[string]error{}, torn: map[uint64]error{}}
	for _, n := range names {
		seq, ok := parseSegName(n)
		if !ok {
			continue
		}
		f, err := os.Open(dir + "/" + n)
		if errors.Is(err, os.ErrNotExist) {
			continue // removed meanwhile by the owner
		}
		if err != nil {
			return nil, err
		}
		s.segs = append(s.segs, seq)
		_, err = scanSegment(f, seq, s.add)
		f.Close()
		if err != nil {
			s.torn[seq] = err
		}
	}
	return s, nil
}

// add applies one entry to the scan.
func (s *logScan) add(e *segEntry) error {
	if e.kind == segKindDel {
		delete(s.live, e.id)
		delete(s.bad, e.id)
		return nil
	}
	r, err := decodeRecord(e.rec)
	if err == nil {
		err = checkLoaded(r, e.id, e.size)
	}
	if err == nil && r.HeaderSize != e.hsize {
		err = fmt.Errorf("header is %d bytes, record says %d", e.hsize, r.HeaderSize)
	}
	if err != nil {
		s.bad[e.id] = err
		delete(s.live, e.id)
		return nil
	}
	if _, ok := s.live[e.id]; !ok {
		s.order = append(s.order, e.id)
	}
	s.live[e.id] = logFound{rec: r, loc: e.loc, size: e.size}
	return nil
}
