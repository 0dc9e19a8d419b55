package queue

import (
	"context"
	"sync"
	"time"
)

// committer makes renames in the queue directory and appends to the log
// durable, many at a time. Callers rename their files into the directory
// and then call sync, or hand it a log entry with appendEntry; one
// goroutine appends every entry it has received to the log and fsyncs the
// segment once, and fsyncs the directory once for every sync request it
// has received, before it answers them. Requests that arrive while an
// fsync runs wait for the next one, so under load one fsync serves many
// commits, and no caller returns before an fsync that started after its
// rename or covers its entry.
type committer struct {
	fs     FS
	dir    string
	window time.Duration
	log    *segLog

	mu      sync.Mutex
	pending []*commitReq // requests not yet taken into a batch
	closed  bool
	wake    chan struct{} // buffered: a request is pending
	stop    chan struct{}
	done    chan struct{}
}

func newCommitter(fsys FS, dir string, window time.Duration, log *segLog) *committer {
	c := &committer{fs: fsys, dir: dir, window: window, log: log,
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
		c.runBatch(c.take())
	}
}

// runBatch appends the batch's log entries, then syncs the directory for
// its sync requests.
func (c *committer) runBatch(batch []*commitReq) {
	var appends, syncs []*commitReq
	for _, r := range batch {
		if r.entry != nil {
			appends = append(appends, r)
		} else {
			syncs = append(syncs, r)
		}
	}
	if len(appends) > 0 {
		c.log.write(appends)
	}
	if len(syncs) > 0 {
		err := c.fs.SyncDir(c.dir)
		for _, r := range syncs {
			r.done <- commitResult{err: err}
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
func (c *committer) take() []*commitReq {
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
	r := &commitReq{done: make(chan commitResult, 1)}
	if err := c.submit(r); err != nil {
		return err
	}
	select {
	case res := <-r.done:
		return res.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// appendEntry appends entry to the log and returns once it is durable,
// with where it was written. put says the entry stores a message. The
// wait cannot be cancelled: a caller must learn whether its entry made it.
func (c *committer) appendEntry(entry []byte, put bool) commitResult {
	r := &commitReq{entry: entry, put: put, done: make(chan commitResult, 1)}
	if err := c.submit(r); err != nil {
		return commitResult{err: err}
	}
	return <-r.done
}

// submit hands r to the committer goroutine.
func (c *committer) submit(r *commitReq) error {
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
	return nil
}

// close stops the goroutine; a batch whose fsync has started is answered
// first, requests still pending get ErrClosed.
func (c *committer) close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	close(c.stop)
	<-c.done
	answerAll(c.take(), ErrClosed)
	c.log.close()
}
