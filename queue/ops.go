package queue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"strings"
)

// List returns the records of every queued message, oldest first. It
// reads the files, so it works from any process; a record being replaced
// is read whole, old or new.
func (q *Queue) List() ([]Record, error) {
	// The log first: a message moving out of it is in q/ before its log
	// copy is retired, so it is seen at least once.
	logged, err := scanLog(q.logdir)
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	names, err := readDirNames(q.qdir)
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	var out []Record
	for _, n := range names {
		id, ok := strings.CutSuffix(n, ".msg")
		if !ok || !validID(id) {
			continue
		}
		r, err := q.loadMessage(id)
		if errors.Is(err, fs.ErrNotExist) {
			continue // delivered or deleted meanwhile
		}
		if err != nil {
			q.log.Warn("queue: unreadable record", "id", id, "err", err)
			continue
		}
		delete(logged.live, id)
		out = append(out, *r)
	}
	for _, id := range logged.order {
		if f, ok := logged.live[id]; ok {
			out = append(out, *f.rec)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].Arrived.Equal(out[j].Arrived) {
			return out[i].Arrived.Before(out[j].Arrived)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// Show returns the record of message id, read from its files: its log
// entry, or q/ID.json when present, else the record embedded at the end
// of q/ID.msg.
func (q *Queue) Show(id string) (*Record, error) {
	if !validID(id) {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	if r, _ := q.findLogged(id); r != nil {
		return r, nil
	}
	return q.showFile(id)
}

// showFile returns the record of message id from q/ (see Show).
func (q *Queue) showFile(id string) (*Record, error) {
	r, err := q.loadMessage(id)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("queue: %s: %w", id, err)
	}
	return r, nil
}

// findLogged returns the record of id and where its content is, if the
// message is in the log (and not also in q/, where it is moving). The
// owner knows; a client of the owner reads the log, once.
func (q *Queue) findLogged(id string) (*Record, *logLoc) {
	if q.owner {
		q.mu.Lock()
		defer q.mu.Unlock()
		if e := q.entries[id]; e != nil && e.loc != nil && !e.gone {
			r, l := e.rec.clone(), *e.loc
			return &r, &l
		}
		return nil, nil
	}
	s, err := scanLog(q.logdir)
	if err != nil {
		return nil, nil
	}
	if f, ok := s.live[id]; ok && !exists(q.msgPath(id)) {
		l := f.loc
		return f.rec, &l
	}
	return nil, nil
}

// Message returns the content of message id as it is delivered: the
// header section, then the body.
func (q *Queue) Message(id string) (io.ReadCloser, error) {
	if !validID(id) {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	if r, loc := q.findLogged(id); r != nil {
		rc, err := q.openLogged(*loc, r.Size, r.HeaderSize)
		if !errors.Is(err, fs.ErrNotExist) {
			return rc, err
		}
		// The message moved to q/ and its segment went meanwhile.
	}
	r, err := q.showFile(id)
	if err != nil {
		return nil, err
	}
	rc, err := q.openFile(id, r.Size, r.HeaderSize)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return rc, err
}

// Hold puts message id on hold with reason: the runner leaves it alone
// until Release. A delivery already running finishes, and its results
// are kept. A held message does not expire; once released it gets one
// more attempt even when it is older than MaxAge, then bounces if that
// attempt does not deliver it.
func (q *Queue) Hold(ctx context.Context, id, reason string) error {
	if err := checkStrings("reason", reason); err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	if !q.owner {
		_, err := q.request(ctx, ctlRequest{Op: "hold", ID: id, Reason: reason})
		return err
	}
	e, err := q.lookup(id)
	if err != nil {
		return err
	}
	q.mu.Lock()
	e.rec.Held, e.rec.HoldReason = true, reason
	q.mu.Unlock()
	if err := q.persist(ctx, e); err != nil {
		return err
	}
	q.log.Info("held", "id", id, "reason", reason)
	return nil
}

// Release takes message id off hold and makes it due now. Releasing a
// message that is not held does nothing.
func (q *Queue) Release(ctx context.Context, id string) error {
	if !q.owner {
		_, err := q.request(ctx, ctlRequest{Op: "release", ID: id})
		return err
	}
	e, err := q.lookup(id)
	if err != nil {
		return err
	}
	q.mu.Lock()
	if !e.rec.Held {
		q.mu.Unlock()
		return nil
	}
	e.rec.Held, e.rec.HoldReason, e.rec.NextAttempt = false, "", q.opts.Clock()
	q.mu.Unlock()
	if err := q.persist(ctx, e); err != nil {
		return err
	}
	q.mu.Lock()
	q.scheduleLocked(e)
	q.mu.Unlock()
	q.notify()
	q.log.Info("released", "id", id)
	return nil
}

// Delete removes message id from the queue without notifying anyone. A
// delivery already running may still complete downstream.
func (q *Queue) Delete(ctx context.Context, id string) error {
	if !q.owner {
		_, err := q.request(ctx, ctlRequest{Op: "delete", ID: id})
		return err
	}
	e, err := q.lookup(id)
	if err != nil {
		return err
	}
	if err := q.remove(ctx, e); err != nil {
		if errors.Is(err, ErrNotFound) {
			return fmt.Errorf("%w: %s", ErrNotFound, id)
		}
		return err
	}
	q.log.Info("deleted", "id", id)
	return nil
}

// Flush makes every message that is not held due now and returns how many
// it moved forward. While Run runs this is a change in memory (a restart
// keeps the old schedule); without a runner the records are rewritten, so
// the next runner starts with them.
func (q *Queue) Flush(ctx context.Context) (int, error) {
	if !q.owner {
		return q.request(ctx, ctlRequest{Op: "flush"})
	}
	now := q.opts.Clock()
	var moved []*entry
	q.mu.Lock()
	running := q.running
	for _, e := range q.entries {
		if e.rec.Held || e.busy || e.gone || !e.rec.NextAttempt.After(now) {
			continue
		}
		e.rec.NextAttempt = now
		q.scheduleLocked(e)
		moved = append(moved, e)
	}
	q.mu.Unlock()
	q.notify()
	if !running {
		for _, e := range moved {
			if err := q.persist(ctx, e); err != nil && !errors.Is(err, ErrNotFound) {
				return 0, err
			}
		}
	}
	q.log.Info("flushed", "messages", len(moved))
	return len(moved), nil
}

// Len returns the number of queued messages: for the owner, those in
// memory (a message leaves when its delivery is settled); for a client
// of the owner, those List finds.
func (q *Queue) Len() int {
	if !q.owner {
		recs, _ := q.List()
		return len(recs)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.entries)
}
