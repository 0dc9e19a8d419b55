package queue

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestLogCommitOrder: a small message is one append to a new segment,
// made durable in its directory before use, then one fsync; no file is
// created for the message itself.
func TestLogCommitOrder(t *testing.T) {
	dir := t.TempDir()
	fsys := &recFS{root: dir}
	q := openTest(t, Options{Dir: dir, FS: fsys})
	id := put(t, q, testRecord("b@example.org"), "hello\r\n")
	seg := "log/" + segName(1)
	want := []string{"create " + seg, "syncdir log", "write " + seg, "sync " + seg}
	if got := fsys.calls(); !slices.Equal(got, want) {
		t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if got := readContent(t, q, id); got != testHeader+"hello\r\n" {
		t.Errorf("content %q", got)
	}
	if names := dirNames(t, q.qdir); len(names) != 0 {
		t.Errorf("q/ holds %v", names)
	}
}

// TestLogWriteFailure: a failed append answers every put of its batch
// with ErrTemporary, leaves nothing that recovery would bring back, and
// the next put works.
func TestLogWriteFailure(t *testing.T) {
	dir := t.TempDir()
	fsys := &recFS{root: dir}
	q := openTest(t, Options{Dir: dir, FS: fsys})
	kept := put(t, q, testRecord("b@example.org"), "kept\r\n")
	for _, op := range []string{"write log/", "sync log/"} {
		fsys.fail = func(o string) error {
			if strings.HasPrefix(o, op) {
				return errInjected
			}
			return nil
		}
		_, err := q.Put(context.Background(), testRecord("b@example.org"), []byte(testHeader), strings.NewReader("lost\r\n"))
		if !errors.Is(err, ErrTemporary) || !errors.Is(err, errInjected) {
			t.Fatalf("%s failing: Put = %v, want ErrTemporary wrapping the cause", op, err)
		}
		fsys.fail = nil
	}
	again := put(t, q, testRecord("b@example.org"), "again\r\n")
	q.Close()
	q2 := openTest(t, Options{Dir: dir})
	recs, err := q2.List()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range recs {
		ids = append(ids, r.ID)
	}
	if !slices.Equal(ids, []string{kept, again}) {
		t.Fatalf("after reopening: %v, want %s and %s", ids, kept, again)
	}
	if got := readContent(t, q2, again); got != testHeader+"again\r\n" {
		t.Errorf("content %q", got)
	}
}

// TestLogRecovery: reopening finds the logged messages (not the deleted
// one), moves a held message to a file of its own, and ignores a torn
// entry at the end of a segment.
func TestLogRecovery(t *testing.T) {
	dir := t.TempDir()
	q := openTest(t, Options{Dir: dir})
	ctx := context.Background()
	a := put(t, q, testRecord("b@example.org"), "a\r\n")
	gone := put(t, q, testRecord("b@example.org"), "gone\r\n")
	held := put(t, q, testRecord("b@example.org"), "held\r\n")
	if err := q.Delete(ctx, gone); err != nil {
		t.Fatal(err)
	}
	if err := q.Hold(ctx, held, "look at it"); err != nil {
		t.Fatal(err)
	}
	if names := dirNames(t, q.qdir); !slices.Equal(names, []string{held + ".msg"}) {
		t.Errorf("q/ holds %v after Hold, want the held message's file", names)
	}
	q.Close()
	seg := filepath.Join(dir, "log", segName(1))
	torn, _, _ := finishPut(startPut(nil, "0630000000000009"), "0630000000000009", []byte(testHeader), []byte("{}"))
	appendFile(t, seg, torn[:len(torn)-3])

	var logs logBuffer
	q2 := openTest(t, Options{Dir: dir, Logger: logs.logger()})
	recs, err := q2.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].ID != a || recs[0].Held || recs[1].ID != held || !recs[1].Held {
		t.Fatalf("after recovery: %+v, want %s, then %s held", recs, a, held)
	}
	for id, body := range map[string]string{a: "a\r\n", held: "held\r\n"} {
		if got := readContent(t, q2, id); got != testHeader+body {
			t.Errorf("%s: content %q", id, got)
		}
	}
	if !strings.Contains(logs.String(), "ignoring the end of a log segment") {
		t.Errorf("no log line about the torn entry:\n%s", logs.String())
	}
}

// TestLogStaleCopy: a crash between moving a message out of the log and
// logging its delete leaves both copies; recovery keeps the file, retires
// the log copy, and the message does not come back after it is deleted.
func TestLogStaleCopy(t *testing.T) {
	dir := t.TempDir()
	q := openTest(t, Options{Dir: dir})
	ctx := context.Background()
	id := put(t, q, testRecord("b@example.org"), "twice\r\n")
	seg := filepath.Join(dir, "log", segName(1))
	before, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Hold(ctx, id, "moved"); err != nil {
		t.Fatal(err)
	}
	q.Close()
	if err := os.WriteFile(seg, before, 0o600); err != nil { // the delete entry never made it
		t.Fatal(err)
	}
	q2 := openTest(t, Options{Dir: dir})
	recs, _ := q2.List()
	if len(recs) != 1 || recs[0].ID != id || !recs[0].Held {
		t.Fatalf("after recovery: %+v, want %s once, held", recs, id)
	}
	if err := q2.Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	q2.Close()
	q3 := openTest(t, Options{Dir: dir})
	if recs, _ := q3.List(); len(recs) != 0 {
		t.Fatalf("a deleted message came back: %+v", recs)
	}
}

// TestLogReclaim: segments are removed oldest first once nothing in them
// is live, never the one being written, and not before older ones.
func TestLogReclaim(t *testing.T) {
	dir := t.TempDir()
	q := openTest(t, Options{Dir: dir, SegmentSize: 2 << 10})
	ctx := context.Background()
	body := strings.Repeat("y", 1500) + "\r\n"
	var ids []string
	for range 6 {
		ids = append(ids, put(t, q, testRecord("b@example.org"), body))
	}
	segs := dirNames(t, q.logdir)
	if len(segs) != 6 {
		t.Fatalf("log/ holds %v, want 6 segments (one per message)", segs)
	}
	// Deleting the newer messages first frees no segment: the oldest
	// still holds a live message, and segments go oldest first.
	for _, id := range ids[1:5] {
		if err := q.Delete(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if got := dirNames(t, q.logdir); len(got) < 5 {
		t.Fatalf("log/ holds %v while its oldest segment is live", got)
	}
	if err := q.Delete(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	// Segments 1-5 hold nothing live; segment 6 holds the last message,
	// and the deletes went to segment 7 (6 was full).
	if got := dirNames(t, q.logdir); !slices.Equal(got, []string{segName(6), segName(7)}) {
		t.Fatalf("log/ holds %v, want only %s and %s", got, segName(6), segName(7))
	}
	if err := q.Delete(ctx, ids[5]); err != nil {
		t.Fatal(err)
	}
	q.Close()
	q2 := openTest(t, Options{Dir: dir})
	if recs, _ := q2.List(); len(recs) != 0 {
		t.Fatalf("deleted messages came back: %+v", recs)
	}
	if got := dirNames(t, q2.logdir); len(got) != 0 {
		t.Errorf("log/ holds %v after reopening an empty queue", got)
	}
}

// TestLogClient: a process that does not own the queue lists, shows and
// reads logged messages.
func TestLogClient(t *testing.T) {
	dir := t.TempDir()
	owner := openTest(t, Options{Dir: dir})
	id := put(t, owner, testRecord("b@example.org"), "for the client\r\n")
	c, err := OpenControl(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Owner() {
		t.Fatal("the client owns the queue")
	}
	recs, err := c.List()
	if err != nil || len(recs) != 1 || recs[0].ID != id {
		t.Fatalf("client List: %+v, %v", recs, err)
	}
	if r, err := c.Show(id); err != nil || r.ID != id {
		t.Fatalf("client Show: %+v, %v", r, err)
	}
	if got := readContent(t, c, id); got != testHeader+"for the client\r\n" {
		t.Errorf("client Message: %q", got)
	}
	if c.Len() != 1 || owner.Len() != 1 {
		t.Errorf("Len: client %d, owner %d, want 1", c.Len(), owner.Len())
	}
}

// TestSegmentEntries: entries round-trip through scanSegment, and a scan
// stops at a damaged entry, reporting the offset where valid data ends.
func TestSegmentEntries(t *testing.T) {
	const id1, id2 = "0630000000000001", "0630000000000002"
	p1, bodyOff, hdrOff := finishPut(append(startPut(nil, id1), "body"...), id1, []byte("H: v\r\n\r\n"), []byte(`{"x":1}`))
	d2 := delEntry(id2)
	seg := slices.Concat(p1, d2)
	var got []*segEntry
	end, err := scanSegment(bytes.NewReader(seg), 7, func(e *segEntry) error {
		c := *e
		c.rec = slices.Clone(e.rec)
		got = append(got, &c)
		return nil
	})
	if err != nil || end != int64(len(seg)) {
		t.Fatalf("scan: end %d, %v; want %d, nil", end, err, len(seg))
	}
	if len(got) != 2 || got[0].kind != segKindPut || got[0].id != id1 || string(got[0].rec) != `{"x":1}` ||
		got[0].loc != (logLoc{seq: 7, bodyOff: bodyOff, hdrOff: hdrOff}) || got[0].size != 12 || got[0].hsize != 8 ||
		got[1].kind != segKindDel || got[1].id != id2 || got[1].offset != int64(len(p1)) {
		t.Fatalf("entries: %+v %+v", got[0], got[1])
	}
	if string(seg[bodyOff:bodyOff+4]) != "body" || string(seg[hdrOff:hdrOff+8]) != "H: v\r\n\r\n" {
		t.Errorf("offsets point at %q and %q", seg[bodyOff:bodyOff+4], seg[hdrOff:hdrOff+8])
	}
	for _, cut := range []int{len(p1) + 1, len(seg) - 1} {
		end, err := scanSegment(bytes.NewReader(seg[:cut]), 7, func(*segEntry) error { return nil })
		if !errors.Is(err, errTornEntry) || end != int64(len(p1)) {
			t.Errorf("cut at %d: end %d, %v; want %d, errTornEntry", cut, end, err, len(p1))
		}
	}
	damaged := slices.Clone(seg)
	damaged[20] ^= 1
	if end, err := scanSegment(bytes.NewReader(damaged), 7, func(*segEntry) error { return nil }); !errors.Is(err, errTornEntry) || end != 0 {
		t.Errorf("damaged first entry: end %d, %v", end, err)
	}
}

// FuzzScanSegment: scanning arbitrary bytes never panics, never reports
// valid data beyond the input, and every entry it returns re-encodes to
// the same bytes. Seeds are in testdata/fuzz/FuzzScanSegment.
func FuzzScanSegment(f *testing.F) {
	const id = "0630000000000001"
	p, _, _ := finishPut(append(startPut(nil, id), "body"...), id, []byte("H: v\r\n\r\n"), []byte(`{}`))
	f.Add(slices.Concat(p, delEntry(id)))
	f.Fuzz(func(t *testing.T, b []byte) {
		end, _ := scanSegment(bytes.NewReader(b), 1, func(e *segEntry) error {
			if e.kind == segKindDel {
				if !bytes.Equal(b[e.offset:e.offset+int64(len(delEntry(e.id)))], delEntry(e.id)) {
					t.Fatalf("delete entry of %s does not re-encode", e.id)
				}
				return nil
			}
			body := b[e.loc.bodyOff : e.loc.bodyOff+e.size-e.hsize]
			hdr := b[e.loc.hdrOff : e.loc.hdrOff+e.hsize]
			again, _, _ := finishPut(append(startPut(nil, e.id), body...), e.id, hdr, e.rec)
			if !bytes.Equal(b[e.offset:e.offset+int64(len(again))], again) {
				t.Fatalf("put entry of %s does not re-encode", e.id)
			}
			return nil
		})
		if end < 0 || end > int64(len(b)) {
			t.Fatalf("valid end %d outside the input of %d bytes", end, len(b))
		}
	})
}

func appendFile(t *testing.T, name string, data []byte) {
	t.Helper()
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
}

// TestLogWriteAfterCut: after a failed batch is cut off the end of a
// segment, the next batch lands right where the cut was, with no hole.
func TestLogWriteAfterCut(t *testing.T) {
	dir := t.TempDir()
	fsys := &recFS{root: dir}
	q := openTest(t, Options{Dir: dir, FS: fsys})
	kept := put(t, q, testRecord("b@example.org"), "kept\r\n")
	l := q.seglog
	// A batch whose bytes reached the file and then failed: cut back
	// and keep writing to the same segment.
	l.f.Write([]byte("half an entry"))
	l.cutBack(l.size, true)
	again := put(t, q, testRecord("b@example.org"), "again\r\n")
	q.Close()
	q2 := openTest(t, Options{Dir: dir})
	recs, _ := q2.List()
	if len(recs) != 2 || recs[0].ID != kept || recs[1].ID != again {
		t.Fatalf("after reopening: %+v, want %s and %s", recs, kept, again)
	}
	if segs := dirNames(t, q2.logdir); len(segs) != 1 {
		t.Errorf("log/ holds %v, want the one segment", segs)
	}
}

// TestLogFailedMove: when moving a logged message to q/ fails after its
// rename (the directory fsync fails), the message stays logged, and
// deleting it removes both copies for good.
func TestLogFailedMove(t *testing.T) {
	dir := t.TempDir()
	fsys := &recFS{root: dir}
	q := openTest(t, Options{Dir: dir, FS: fsys})
	ctx := context.Background()
	id := put(t, q, testRecord("b@example.org"), "moving\r\n")
	fsys.fail = func(op string) error {
		if op == "syncdir q" {
			return errInjected
		}
		return nil
	}
	if err := q.Hold(ctx, id, "x"); !errors.Is(err, ErrTemporary) {
		t.Fatalf("Hold with a failing directory fsync: %v, want ErrTemporary", err)
	}
	fsys.fail = nil
	if !fileExists(q.msgPath(id)) {
		t.Fatal("the renamed file is not there: the test does not test the failed move")
	}
	if err := q.Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	if fileExists(q.msgPath(id)) {
		t.Error("Delete left the moved file behind")
	}
	q.Close()
	q2 := openTest(t, Options{Dir: dir})
	if recs, _ := q2.List(); len(recs) != 0 {
		t.Fatalf("a deleted message came back: %+v", recs)
	}
}
