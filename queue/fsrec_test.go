package queue

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// recFS is an FS over the real one that records every call as a line
// ("sync tmp/ID.msg", "rename tmp/ID.json q/ID.json", …, paths relative to
// root), can fail a chosen call, and can hold SyncDir calls until let go.
type recFS struct {
	root string
	mu   sync.Mutex
	ops  []string
	// fail, when set, is asked about every call; a non-nil error is
	// returned instead of doing it.
	fail func(op string) error
	// gate, when set, is received from before each SyncDir.
	gate   chan struct{}
	atGate int // SyncDir calls that reached the gate
}

// gated returns how many SyncDir calls have reached the gate.
func (f *recFS) gated() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.atGate
}

func (f *recFS) rel(p string) string {
	if r, err := filepath.Rel(f.root, p); err == nil {
		return r
	}
	return p
}

func (f *recFS) record(op string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		if err := f.fail(op); err != nil {
			f.ops = append(f.ops, op+" = "+err.Error())
			return err
		}
	}
	f.ops = append(f.ops, op)
	return nil
}

func (f *recFS) calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.ops...)
}

func (f *recFS) count(prefix string) int {
	n := 0
	for _, op := range f.calls() {
		if strings.HasPrefix(op, prefix) {
			n++
		}
	}
	return n
}

func (f *recFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	if err := f.record("create " + f.rel(name)); err != nil {
		return nil, err
	}
	file, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &recFile{fs: f, f: file, name: f.rel(name)}, nil
}

func (f *recFS) Rename(oldpath, newpath string) error {
	if err := f.record("rename " + f.rel(oldpath) + " " + f.rel(newpath)); err != nil {
		return err
	}
	return os.Rename(oldpath, newpath)
}

func (f *recFS) Remove(name string) error {
	if err := f.record("remove " + f.rel(name)); err != nil {
		return err
	}
	return os.Remove(name)
}

func (f *recFS) SyncDir(dir string) error {
	if f.gate != nil {
		f.mu.Lock()
		f.atGate++
		f.mu.Unlock()
		<-f.gate
	}
	if err := f.record("syncdir " + f.rel(dir)); err != nil {
		return err
	}
	return osFS{}.SyncDir(dir)
}

type recFile struct {
	fs   *recFS
	f    *os.File
	name string
}

func (r *recFile) Write(p []byte) (int, error) {
	if err := r.fs.record(fmt.Sprintf("write %s", r.name)); err != nil {
		return 0, err
	}
	return r.f.Write(p)
}

func (r *recFile) Sync() error {
	if err := r.fs.record("sync " + r.name); err != nil {
		return err
	}
	return r.f.Sync()
}

func (r *recFile) Truncate(size int64) error {
	if err := r.fs.record(fmt.Sprintf("truncate %s %d", r.name, size)); err != nil {
		return err
	}
	return r.f.Truncate(size)
}

func (r *recFile) Close() error {
	if err := r.fs.record("close " + r.name); err != nil {
		r.f.Close()
		return err
	}
	return r.f.Close()
}

var errInjected = errors.New("injected")
