package queue

import (
	"io"
	"os"
)

// FS is the set of file operations through which the queue writes and makes
// data durable. The zero Options use the operating system's; tests inject
// one that records the order of calls or fails on purpose. Reading (record
// loading, content for delivery, directory listing) always uses package os.
type FS interface {
	// OpenFile is os.OpenFile.
	OpenFile(name string, flag int, perm os.FileMode) (File, error)
	// Rename is os.Rename: atomically replaces newpath.
	Rename(oldpath, newpath string) error
	// Remove is os.Remove.
	Remove(name string) error
	// SyncDir makes the entries of directory dir durable (fsync on the
	// directory).
	SyncDir(dir string) error
}

// File is an open file of an FS.
type File interface {
	io.Writer
	// Sync is fsync(2): the file's data and metadata are durable.
	Sync() error
	Close() error
}

// osFS is the operating system's file system.
type osFS struct{}

func (osFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err // a nil *os.File must not become a non-nil File
	}
	return f, nil
}

func (osFS) Rename(oldpath, newpath string) error { return os.Rename(oldpath, newpath) }

func (osFS) Remove(name string) error { return os.Remove(name) }

func (osFS) SyncDir(dir string) error {
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

// writeFileSync creates name (truncating it), writes data, fsyncs and
// closes it.
func writeFileSync(fsys FS, name string, data []byte) error {
	f, err := writeFile(fsys, name, data)
	if err != nil {
		return err
	}
	return syncClose(f)
}

// writeFile creates name (truncating it) and writes data; the file is
// left open for syncClose.
func writeFile(fsys FS, name string, data []byte) (File, error) {
	f, err := fsys.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// syncClose fsyncs and closes f.
func syncClose(f File) error {
	err := f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
