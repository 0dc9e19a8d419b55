package queue

import (
	"errors"
	"fmt"
)

var (
	// ErrTemporary marks a failure to store a message that may go away
	// by itself: disk full, an I/O error, too many open files. An SMTP
	// server answers it with 452 4.3.1. Test with errors.Is; the cause
	// (e.g. syscall.ENOSPC) stays reachable through errors.Is and As too.
	ErrTemporary = errors.New("queue: temporary failure")

	// ErrNotFound: no message has that ID.
	ErrNotFound = errors.New("no such message")

	// ErrLocked: another process owns the queue directory.
	ErrLocked = errors.New("queue directory is locked by another process")

	// ErrNotOwner: the operation needs the queue's owner (Open), and this
	// Queue is a client of another process (OpenControl).
	ErrNotOwner = errors.New("queue is owned by another process")

	// ErrClosed: the Queue was closed.
	ErrClosed = errors.New("queue is closed")

	// ErrDraftDone: the Draft was already committed or aborted.
	ErrDraftDone = errors.New("draft already committed or aborted")
)

// tempErr wraps an I/O error of operation op as ErrTemporary.
func tempErr(op string, err error) error {
	if err == nil || errors.Is(err, ErrTemporary) {
		return err
	}
	return fmt.Errorf("%w: %s: %w", ErrTemporary, op, err)
}
