package queue

import (
	"context"
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
	reqs   chan chan error
	stop   chan struct{}
	done   chan struct{}
}

func newCommitter(fsys FS, dir string, window time.Duration) *committer {
	c := &committer{fs: fsys, dir: dir, window: window,
		reqs: make(chan chan error), stop: make(chan struct{}), done: make(chan struct{})}
	go c.run()
	return c
}

func (c *committer) run() {
	defer close(c.done)
	for {
		var batch []chan error
		select {
		case r := <-c.reqs:
			batch = append(batch, r)
		case <-c.stop:
			return
		}
		batch = c.gather(batch)
		err := c.fs.SyncDir(c.dir)
		for _, r := range batch {
			r <- err
		}
	}
}

// gather adds the requests that arrive within the commit window (if any)
// and those already waiting.
func (c *committer) gather(batch []chan error) []chan error {
	if c.window > 0 {
		t := time.NewTimer(c.window)
		defer t.Stop()
	window:
		for {
			select {
			case r := <-c.reqs:
				batch = append(batch, r)
			case <-t.C:
				break window
			}
		}
	}
	for {
		select {
		case r := <-c.reqs:
			batch = append(batch, r)
		default:
			return batch
		}
	}
}

// sync returns once the directory has been fsynced after the call began.
// Cancelling ctx stops the wait, not the fsync.
func (c *committer) sync(ctx context.Context) error {
	r := make(chan error, 1)
	select {
	case c.reqs <- r:
	case <-c.stop:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-r:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// close stops the goroutine; a sync already received is answered first.
func (c *committer) close() {
	close(c.stop)
	<-c.done
}
