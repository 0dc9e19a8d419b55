//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package queue

import "errors"

func (q *Queue) acquire(bool) error {
	return errors.New("queue: locking the spool needs flock(2), which this system lacks")
}

func (q *Queue) release() {}

func readPID(string) string { return "" }
