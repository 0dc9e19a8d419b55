package queue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/sluice-mta/sluice/envelope"
)

// persist writes e's current record durably: temp file, fsync, rename,
// directory fsync (shared through the committer). Writes of one message
// are serialized and each writes the latest state, so the last rename
// always carries the newest record.
func (q *Queue) persist(ctx context.Context, e *entry) error {
	e.wmu.Lock()
	defer e.wmu.Unlock()
	q.mu.Lock()
	if e.gone {
		q.mu.Unlock()
		return ErrNotFound
	}
	r := e.rec.clone()
	q.mu.Unlock()
	data, err := encodeRecord(&r)
	if err != nil {
		return fmt.Errorf("queue: record of %s: %w", r.ID, err)
	}
	tmp := q.tmpRecPath(r.ID)
	if err := writeFileSync(q.fs, tmp, data); err != nil {
		_ = q.fs.Remove(tmp)
		return tempErr("write record of "+r.ID, err)
	}
	if err := q.fs.Rename(tmp, q.recPath(r.ID)); err != nil {
		return tempErr("write record of "+r.ID, err)
	}
	return tempErr("sync "+q.qdir, q.commit.sync(ctx))
}

// remove takes e out of the queue: the content file first, made durable
// by a directory fsync, then q/ID.json if the message has one. The
// content file carries the first record, so it must go before any later
// record: a crash in between leaves only q/ID.json, which recovery
// removes, never content whose embedded record would revive the message.
func (q *Queue) remove(ctx context.Context, e *entry) error {
	e.wmu.Lock()
	defer e.wmu.Unlock()
	q.mu.Lock()
	if e.gone {
		q.mu.Unlock()
		return ErrNotFound
	}
	e.gone = true
	id := e.rec.ID
	delete(q.entries, id)
	q.mu.Unlock()
	if err := q.fs.Remove(q.msgPath(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		q.log.Error("queue: cannot remove message files", "id", id, "err", err)
		return tempErr("remove "+id, err)
	}
	if err := q.commit.sync(ctx); err != nil {
		return tempErr("sync "+q.qdir, err)
	}
	// Not synced: if the removal is lost, recovery removes the record.
	if err := q.fs.Remove(q.recPath(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		q.log.Warn("queue: cannot remove the record of a removed message", "id", id, "err", err)
	}
	return nil
}

// lookup returns the entry of id (owner only).
func (q *Queue) lookup(id string) (*entry, error) {
	if !validID(id) {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	e := q.entries[id]
	if e == nil || e.gone {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return e, nil
}

// delivery builds what a Deliverer gets for record r and recipients to.
func (q *Queue) delivery(r *Record, to []envelope.Address) *envelope.Delivery {
	id, size, hsize := r.ID, r.Size, r.HeaderSize
	return &envelope.Delivery{
		QueueID: r.ID, From: r.From, To: to, Client: r.Client, Arrived: r.Arrived, Size: r.Size,
		Open: func(context.Context) (io.ReadCloser, error) { return q.openContent(id, size, hsize) },
	}
}

// openContent returns a message as it is delivered: header section, then
// body. The record and trailer after them are left out.
func (q *Queue) openContent(id string, size, hsize int64) (io.ReadCloser, error) {
	f, err := os.Open(q.msgPath(id))
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil {
		var n int64
		_, _, n, err = readTrailer(f, fi.Size())
		if err != nil {
			err = fmt.Errorf("queue: content of %s: %w", id, err)
		} else if n != size {
			err = fmt.Errorf("queue: content of %s is %d bytes, record says %d", id, n, size)
		}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	body := size - hsize
	r := io.MultiReader(io.NewSectionReader(f, body, hsize), io.NewSectionReader(f, 0, body))
	return &content{Reader: r, f: f}, nil
}

type content struct {
	io.Reader
	f *os.File
}

func (c *content) Close() error { return c.f.Close() }
