package queue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

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
	loc := e.loc
	q.mu.Unlock()
	data, err := encodeRecord(&r)
	if err != nil {
		return fmt.Errorf("queue: record of %s: %w", r.ID, err)
	}
	if loc != nil {
		return q.migrate(ctx, e, &r, *loc, data)
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

// remove takes e out of the queue. A logged message gets a delete entry
// (and loses the file a failed move to q/ may have left). Otherwise the
// content file goes first, made durable by a directory fsync, then
// q/ID.json if the message has one. The
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
	id, loc := e.rec.ID, e.loc
	delete(q.entries, id)
	q.mu.Unlock()
	if loc != nil {
		if res := q.commit.appendEntry(delEntry(id), false); res.err != nil {
			q.log.Error("queue: cannot log the removal of a message", "id", id, "err", res.err)
			return tempErr("remove "+id, res.err)
		}
		q.seglog.release(loc.seq)
		if !exists(q.msgPath(id)) {
			return nil
		}
		// A move to q/ that failed after its rename left a file behind.
	}
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

// migrate moves a message out of the log into q/ID.msg with record data,
// the first time its record changes: the file is made durable, then a
// delete entry retires the log's copy. Until that entry is durable both
// copies exist and recovery prefers the file.
func (q *Queue) migrate(ctx context.Context, e *entry, r *Record, loc logLoc, data []byte) error {
	id := r.ID
	body, header, err := q.readLogged(loc, r.Size, r.HeaderSize)
	if err != nil {
		return tempErr("read "+id+" from the log", err)
	}
	tmp := q.draftPath(id)
	f, err := writeFile(q.fs, tmp, body)
	if err == nil {
		if _, err = f.Write(header); err == nil {
			_, err = f.Write(appendTail(nil, data))
		}
		if cerr := syncClose(f); err == nil {
			err = cerr
		}
	}
	if err == nil {
		err = q.fs.Rename(tmp, q.msgPath(id))
	}
	if err != nil {
		_ = q.fs.Remove(tmp)
		return tempErr("write "+id, err)
	}
	if err := q.commit.sync(ctx); err != nil {
		return tempErr("sync "+q.qdir, err)
	}
	q.mu.Lock()
	e.loc = nil
	q.mu.Unlock()
	if res := q.commit.appendEntry(delEntry(id), false); res.err != nil {
		// Recovery finds both copies, keeps the file and logs the delete.
		q.log.Warn("queue: cannot retire the log copy of a message", "id", id, "err", res.err)
		return nil
	}
	q.seglog.release(loc.seq)
	return nil
}

// readLogged reads the body and header section of a logged message.
func (q *Queue) readLogged(loc logLoc, size, hsize int64) (body, header []byte, err error) {
	f, err := os.Open(filepath.Join(q.logdir, segName(loc.seq)))
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	body, header = make([]byte, size-hsize), make([]byte, hsize)
	if _, err := f.ReadAt(body, loc.bodyOff); err != nil {
		return nil, nil, err
	}
	if _, err := f.ReadAt(header, loc.hdrOff); err != nil {
		return nil, nil, err
	}
	return body, header, nil
}

// locate returns where message id's content is in the log, or nil when it
// has a file of its own (or is not queued). Only the owner delivers, so
// only the owner asks: its entries know without reading the log.
func (q *Queue) locate(id string) *logLoc {
	q.mu.Lock()
	defer q.mu.Unlock()
	if e := q.entries[id]; e != nil && e.loc != nil {
		l := *e.loc
		return &l
	}
	return nil
}

// openContent returns a message as it is delivered: header section, then
// body. The record and trailer after them are left out.
func (q *Queue) openContent(id string, size, hsize int64) (io.ReadCloser, error) {
	if loc := q.locate(id); loc != nil {
		rc, err := q.openLogged(*loc, size, hsize)
		if !errors.Is(err, fs.ErrNotExist) {
			return rc, err
		}
		// The message moved to q/ and its segment went meanwhile.
	}
	return q.openFile(id, size, hsize)
}

// openLogged returns the content of a message in the log.
func (q *Queue) openLogged(loc logLoc, size, hsize int64) (io.ReadCloser, error) {
	f, err := os.Open(filepath.Join(q.logdir, segName(loc.seq)))
	if err != nil {
		return nil, err
	}
	r := io.MultiReader(io.NewSectionReader(f, loc.hdrOff, hsize), io.NewSectionReader(f, loc.bodyOff, size-hsize))
	return &content{Reader: r, f: f}, nil
}

// openFile returns the content of a message in q/ID.msg.
func (q *Queue) openFile(id string, size, hsize int64) (io.ReadCloser, error) {
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
