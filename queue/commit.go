package queue

import (
	"context"
	"sync"
	"time"
)

// committer makes renames in the queue directory durable, many at a time.
// Callers rename their files into the directory and then call sync; one
// goroutine fsyncs the directory for every caller whose request it has
// received before the fsync starts. Requests that arrive while an fsync
// runs wait for the next one, so under load one fsync serves many commits,
// and no caller returns before an fsync that started after its rename.
type committer struct {
	fs     FS
	dir    string
	window time.Duration

	mu      sync.Mutex
	pending []chan error // requests not yet taken into a batch
	closed  bool
	wake    chan struct{} // buffered: a request is pending
	stop    chan struct{}
	done    chan struct{}
}

func newCommitter(fsys FS, dir string, window time.Duration) *committer {
	c := &committer{fs: fsys, dir: dir, window: window,
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go c.run()
	return c
}

func (c *committer) run() {
	defer close(c.done)
	for {
		select {
		case <-c.wake:
		case <-c.stop:
			return
		}
		if !c.waitWindow() {
			return
		}
		batch := c.take()
		if len(batch) == 0 {
			continue
		}
		err := c.fs.SyncDir(c.dir)
		for _, r := range batch {
			r <- err
		}
	}
}

// waitWindow lets more requests gather for the commit window, if any. It
// reports false when the committer is stopping.
func (c *committer) waitWindow() bool {
	if c.window <= 0 {
		return true
	}
	t := time.NewTimer(c.window)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.stop:
		return false
	}
}

// take returns every pending request: the fsync about to start covers
// them all, since each was made after its caller's renames.
func (c *committer) take() []chan error {
	c.mu.Lock()
	defer c.mu.Unlock()
	batch := c.pending
	c.pending = nil
	return batch
}

// waiting returns the number of requests not yet taken (for tests).
func (c *committer) waiting() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pending)
}

// sync returns once the directory has been fsynced after the call began.
// Cancelling ctx stops the wait, not the fsync.
func (c *committer) sync(ctx context.Context) error {
	r := make(chan error, 1)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	c.pending = append(c.pending, r)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default: // a wake-up is already pending
	}
	select {
	case err := <-r:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// close stops the goroutine; a batch whose fsync has started is answered
// first, requests still pending get ErrClosed.
func (c *committer) close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	close(c.stop)
	<-c.done
	for _, r := range c.take() {
		r <- ErrClosed
	}
}
