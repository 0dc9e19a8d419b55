package queue

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// mountTmpfs mounts a tmpfs of the given size on a fresh directory and
// unmounts it when the test ends; it skips the test when mounting is not
// permitted (not root, or no CAP_SYS_ADMIN in a container).
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size+",mode=0700"); err != nil {
		t.Skipf("cannot mount a tmpfs for the disk-full test (needs root or CAP_SYS_ADMIN): %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// TestDiskFull: on a full file system Put fails with ErrTemporary (cause
// ENOSPC) and leaves nothing behind, queued messages stay intact, and
// Put works again once space is freed.
func TestDiskFull(t *testing.T) {
	dir := mountTmpfs(t, "256k")
	q, err := Open(Options{Dir: filepath.Join(dir, "spool")})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	ctx := context.Background()
	small := strings.Repeat("small body line\r\n", 60) // about 1 KiB
	var ids []string
	for range 3 {
		ids = append(ids, put(t, q, testRecord("b@example.org"), small))
	}

	// A message bigger than the file system.
	big := strings.Repeat("x", 512<<10)
	_, err = q.Put(ctx, testRecord("b@example.org"), []byte(testHeader), strings.NewReader(big))
	if !errors.Is(err, ErrTemporary) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Put of 512 KiB on a 256 KiB tmpfs: %v, want ErrTemporary with ENOSPC", err)
	}
	// Streaming: Write itself reports it.
	d, err := q.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var werr error
	for i := 0; i < 8 && werr == nil; i++ {
		_, werr = d.Write([]byte(big[:64<<10]))
	}
	if !errors.Is(werr, ErrTemporary) {
		t.Errorf("Write past the free space: %v, want ErrTemporary", werr)
	}
	d.Abort()

	// Fill what is left, then even small messages fail once the slack
	// of the log's last page is used up.
	filler := filepath.Join(dir, "filler")
	fillDisk(t, filler)
	for i := 0; ; i++ {
		id, err := q.Put(ctx, testRecord("b@example.org"), []byte(testHeader), strings.NewReader(small))
		if err == nil && i < 8 {
			ids = append(ids, id)
			continue
		}
		if !errors.Is(err, ErrTemporary) || !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("Put %d on a full disk: %v, want ErrTemporary with ENOSPC", i, err)
		}
		break
	}
	checkIntact(t, q, ids, small)

	// Space comes back: the queue resumes.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	id := put(t, q, testRecord("b@example.org"), small)
	checkIntact(t, q, append(ids, id), small)
}

// fillDisk writes name until the file system is full.
func fillDisk(t *testing.T, name string) {
	t.Helper()
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for range 1024 { // far more than 256 KiB
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatal("the tmpfs never filled up")
}

// checkIntact: exactly ids are queued, each with its content, and no
// draft is left.
func checkIntact(t *testing.T, q *Queue, ids []string, body string) {
	t.Helper()
	recs, err := q.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != len(ids) {
		t.Fatalf("%d messages queued, want %d", len(recs), len(ids))
	}
	for _, id := range ids {
		if got := readContent(t, q, id); got != testHeader+body {
			t.Errorf("message %s damaged: %d bytes", id, len(got))
		}
	}
	if names := dirNames(t, q.tmpdir); len(names) != 0 {
		t.Errorf("tmp/ holds %v", names)
	}
}
