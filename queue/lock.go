//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package queue

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// acquire takes the exclusive lock on Dir/lock. With wait it retries until
// LockWait has passed; without, it fails at once. Either way a lock held
// by another process ends in ErrLocked.
func (q *Queue) acquire(wait bool) error {
	name := filepath.Join(q.dir, "lock")
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	deadline := time.Now().Add(q.opts.LockWait)
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return fmt.Errorf("queue: lock %s: %w", name, err)
		}
		if !wait || time.Now().After(deadline) {
			f.Close()
			pid := readPID(name)
			if pid == "" {
				return fmt.Errorf("%w: %s", ErrLocked, q.dir)
			}
			return fmt.Errorf("%w: %s (pid %s)", ErrLocked, q.dir, pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The pid is only for messages; failing to write it is harmless.
	if f.Truncate(0) == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	q.lock, q.owner = f, true
	return nil
}

// release drops the lock (owner only).
func (q *Queue) release() {
	if q.lock == nil {
		return
	}
	_ = syscall.Flock(int(q.lock.Fd()), syscall.LOCK_UN)
	q.lock.Close()
	q.lock = nil
}

// readPID returns the pid written in a lock file, "" when there is none.
func readPID(name string) string {
	b, err := os.ReadFile(name)
	if err != nil || len(b) > 32 {
		return ""
	}
	s := strings.TrimSpace(string(b))
	if _, err := strconv.Atoi(s); err != nil {
		return ""
	}
	return s
}
