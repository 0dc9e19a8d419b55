package queuebench

import (
	"os"
	"sync/atomic"
	"testing"

	"github.com/sluice-mta/sluice/queue"
)

// benchDirEnv names a directory for the spools (to measure a particular
// disk), as for the queue package's own benchmarks; unset: the temporary
// directory.
const benchDirEnv = "SLUICE_BENCH_DIR"

// spoolDir returns a new empty directory for one spool, removed when tb
// ends.
func spoolDir(tb testing.TB) string {
	tb.Helper()
	parent := os.Getenv(benchDirEnv)
	if parent == "" {
		return tb.TempDir()
	}
	dir, err := os.MkdirTemp(parent, "runner-bench")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// syncFS is the operating system's file system, counting fsync calls on
// files and directories.
type syncFS struct {
	fileSyncs, dirSyncs atomic.Int64
}

func (c *syncFS) syncs() int64 { return c.fileSyncs.Load() + c.dirSyncs.Load() }

func (c *syncFS) OpenFile(name string, flag int, perm os.FileMode) (queue.File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &syncFile{File: f, c: c}, nil
}

func (c *syncFS) Rename(oldpath, newpath string) error { return os.Rename(oldpath, newpath) }

func (c *syncFS) Remove(name string) error { return os.Remove(name) }

func (c *syncFS) SyncDir(dir string) error {
	c.dirSyncs.Add(1)
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncFile is an open file of a syncFS.
type syncFile struct {
	*os.File
	c *syncFS
}

func (f *syncFile) Sync() error {
	f.c.fileSyncs.Add(1)
	return f.File.Sync()
}
