package queue

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestCommitOrder: one file written (body, header section, record,
// trailer) and fsynced, renamed into q/, directory fsynced — in that
// order, and nothing else.
func TestCommitOrder(t *testing.T) {
	dir := t.TempDir()
	fsys := &recFS{root: dir}
	q := openTest(t, Options{Dir: dir, FS: fsys, LogMaxMessage: -1})
	id := put(t, q, testRecord("b@example.org"), "hello\r\n")
	m := "tmp/" + id + ".msg"
	want := []string{
		"create " + m, "write " + m, "sync " + m, "close " + m,
		"rename " + m + " q/" + id + ".msg",
		"syncdir q",
	}
	if got := fsys.calls(); !slices.Equal(got, want) {
		t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if got := readContent(t, q, id); got != testHeader+"hello\r\n" {
		t.Errorf("content %q", got)
	}
	r, err := q.Show(id)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := encodeRecord(r)
	if err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(q.msgPath(id))
	if err != nil {
		t.Fatal(err)
	}
	wantFile := fmt.Sprintf("hello\r\n%s%s\nsluice-record/1 %010d %08x\n", testHeader, rec, len(rec), crc32.Checksum(rec, crc32.MakeTable(crc32.Castagnoli)))
	if string(file) != wantFile {
		t.Errorf("q/%s.msg:\n%s\nwant:\n%s", id, file, wantFile)
	}
	if fileExists(q.recPath(id)) {
		t.Errorf("q/%s.json exists after commit", id)
	}
}

// TestCommitWaitsForDirSync: Put does not return before the directory
// fsync that follows its renames.
func TestCommitWaitsForDirSync(t *testing.T) {
	dir := t.TempDir()
	fsys := &recFS{root: dir, gate: make(chan struct{})}
	q := openTest(t, Options{Dir: dir, FS: fsys, LogMaxMessage: -1})
	done := make(chan error, 1)
	go func() {
		_, err := q.Put(context.Background(), testRecord("b@example.org"), []byte(testHeader), strings.NewReader("x"))
		done <- err
	}()
	waitFor(t, "the rename", func() bool { return fsys.count("rename tmp/") == 1 })
	select {
	case err := <-done:
		t.Fatalf("Put returned (%v) before the directory was fsynced", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(fsys.gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := fsys.count("syncdir q"); n != 1 {
		t.Errorf("%d directory fsyncs, want 1", n)
	}
}

// TestGroupCommit: commits that arrive while an fsync runs share the
// next one: 1 + 20 Puts, 2 fsyncs. Big messages (a file each) share the
// fsync of q/; small ones share the fsync of the log segment (the first
// waits at the gate while its segment is created).
func TestGroupCommit(t *testing.T) {
	for _, tt := range []struct {
		name   string
		logMax int64
		synced string // the fsync the commits share
	}{
		{"file per message", -1, "syncdir q"},
		{"log", 0, "sync log/"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			fsys := &recFS{root: dir, gate: make(chan struct{})}
			q := openTest(t, Options{Dir: dir, FS: fsys, LogMaxMessage: tt.logMax})
			const n = 21
			errs := make(chan error, n)
			putOne := func() {
				_, err := q.Put(context.Background(), testRecord("b@example.org"), []byte(testHeader), strings.NewReader("x"))
				errs <- err
			}
			go putOne()
			waitFor(t, "the first commit's fsync to start", func() bool { return fsys.gated() == 1 })
			for range n - 1 {
				go putOne()
			}
			waitFor(t, "every other commit to wait for the next fsync", func() bool { return q.commit.waiting() == n-1 })
			close(fsys.gate)
			for range n {
				if err := <-errs; err != nil {
					t.Fatal(err)
				}
			}
			if got := fsys.count(tt.synced); got != 2 {
				t.Errorf("%d fsyncs (%s) for %d commits, want 2", got, tt.synced, n)
			}
			if recs, _ := q.List(); len(recs) != n {
				t.Errorf("%d messages listed, want %d", len(recs), n)
			}
		})
	}
}

// TestCommitErrors: a failure at any step returns ErrTemporary wrapping
// the cause, leaves no file behind, and the next Put works.
func TestCommitErrors(t *testing.T) {
	tests := []struct {
		name  string
		match func(op string) bool
		body  int // body size; large bodies reach the file from Write
	}{
		{"create draft", func(op string) bool { return strings.HasPrefix(op, "create tmp/") }, 10},
		{"body write", func(op string) bool { return strings.HasPrefix(op, "write tmp/") }, 200 << 10},
		{"flush at commit", func(op string) bool { return strings.HasPrefix(op, "write tmp/") }, 10},
		{"content fsync", func(op string) bool { return strings.HasPrefix(op, "sync tmp/") }, 10},
		{"content close", func(op string) bool { return strings.HasPrefix(op, "close tmp/") }, 10},
		{"rename", func(op string) bool { return strings.HasPrefix(op, "rename tmp/") }, 10},
		{"directory fsync", func(op string) bool { return strings.HasPrefix(op, "syncdir") }, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			fsys := &recFS{root: dir}
			q := openTest(t, Options{Dir: dir, FS: fsys, LogMaxMessage: -1})
			failed := false
			fsys.fail = func(op string) error {
				if !failed && tt.match(op) {
					failed = true
					return syscall.ENOSPC
				}
				return nil
			}
			body := strings.Repeat("x", tt.body)
			_, err := q.Put(context.Background(), testRecord("b@example.org"), []byte(testHeader), strings.NewReader(body))
			if !errors.Is(err, ErrTemporary) || !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("Put: %v, want ErrTemporary and ENOSPC", err)
			}
			for _, d := range []string{"q", "tmp"} {
				if names := dirNames(t, filepath.Join(dir, d)); len(names) != 0 {
					t.Errorf("%s/ holds %v after the failed Put", d, names)
				}
			}
			if recs, _ := q.List(); len(recs) != 0 {
				t.Errorf("List after the failed Put: %d messages", len(recs))
			}
			id := put(t, q, testRecord("b@example.org"), body)
			if got := readContent(t, q, id); got != testHeader+body {
				t.Errorf("content after recovery from the error: %d bytes", len(got))
			}
		})
	}
}

// TestDraftStreams: body bytes reach the file as they are written, not at
// commit.
func TestDraftStreams(t *testing.T) {
	q := openTest(t, Options{})
	d, err := q.Create(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	chunk := []byte(strings.Repeat("0123456789abcdef", 4096)) // 64 KiB
	for range 32 {
		if _, err := d.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	fi, err := os.Stat(q.draftPath(d.ID()))
	if err != nil {
		t.Fatal(err)
	}
	if min := int64(32*len(chunk) - draftBuffer); fi.Size() < min {
		t.Errorf("draft file holds %d bytes after 2 MiB of writes, want at least %d", fi.Size(), min)
	}
	id, err := d.Commit(context.Background(), testRecord("b@example.org"), []byte(testHeader))
	if err != nil {
		t.Fatal(err)
	}
	r, err := q.Show(id)
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(32*len(chunk) + len(testHeader)); r.Size != want || r.HeaderSize != int64(len(testHeader)) {
		t.Errorf("sizes %d/%d, want %d/%d", r.Size, r.HeaderSize, want, len(testHeader))
	}
	if got := readContent(t, q, id); got != testHeader+strings.Repeat(string(chunk), 32) {
		t.Errorf("content differs (%d bytes)", len(got))
	}
}

func TestDraftLifecycle(t *testing.T) {
	q := openTest(t, Options{})
	ctx := context.Background()

	d, _ := q.Create(ctx)
	d.Write([]byte("body"))
	if err := d.Abort(); err != nil {
		t.Fatal(err)
	}
	if fileExists(q.draftPath(d.ID())) {
		t.Error("Abort left the draft file")
	}
	if _, err := d.Write([]byte("x")); !errors.Is(err, ErrDraftDone) {
		t.Errorf("Write after Abort: %v", err)
	}
	if _, err := d.Commit(ctx, testRecord("b@example.org"), nil); !errors.Is(err, ErrDraftDone) {
		t.Errorf("Commit after Abort: %v", err)
	}

	d, _ = q.Create(ctx)
	_, err := d.Commit(ctx, testRecord(), []byte(testHeader))
	if err == nil || errors.Is(err, ErrTemporary) || err.Error() != "queue: bad record: no recipients" {
		t.Errorf("Commit without recipients: %v", err)
	}
	bad := testRecord("b@example.org\r\nRCPT TO:<evil@example.com>")
	d, _ = q.Create(ctx)
	if _, err := d.Commit(ctx, bad, []byte(testHeader)); err == nil || errors.Is(err, ErrTemporary) {
		t.Errorf("Commit with CRLF in an address: %v", err)
	}
	if names := dirNames(t, q.tmpdir); len(names) != 0 {
		t.Errorf("tmp/ holds %v after failed commits", names)
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := q.Create(cctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Create with a cancelled context: %v", err)
	}
}

// TestIDs: IDs are unique and ordered even when the clock stands still.
func TestIDs(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	q := openTest(t, Options{Clock: func() time.Time { return now }})
	seen := map[string]bool{}
	var wg sync.WaitGroup
	var mu sync.Mutex
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				d, err := q.Create(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if seen[d.ID()] || !validID(d.ID()) {
					t.Errorf("duplicate or invalid ID %q", d.ID())
				}
				seen[d.ID()] = true
				mu.Unlock()
				d.Abort()
			}
		}()
	}
	wg.Wait()
	if len(seen) != 400 {
		t.Errorf("%d IDs, want 400", len(seen))
	}
	a, b := q.ids.next(now), q.ids.next(now)
	if a >= b {
		t.Errorf("IDs not increasing: %s then %s", a, b)
	}
	if !strings.HasPrefix(a, fmt.Sprintf("%013x", now.UnixMicro())[:8]) {
		t.Errorf("ID %s does not start with the time", a)
	}
}
