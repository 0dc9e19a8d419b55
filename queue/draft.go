package queue

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// draftBuffer is how much body a Draft buffers before writing to its file.
const draftBuffer = 64 << 10

// maxPooledEntry bounds the buffers kept for reuse.
const maxPooledEntry = 256 << 10

// getEntryBuf returns a buffer for a log entry, recycled when possible.
func (q *Queue) getEntryBuf() []byte {
	if b, ok := q.entryBufs.Get().(*[]byte); ok {
		return (*b)[:0]
	}
	return make([]byte, 0, 8<<10)
}

// putEntryBuf keeps b for a later draft.
func (q *Queue) putEntryBuf(b []byte) {
	if cap(b) <= maxPooledEntry {
		q.entryBufs.Put(&b)
	}
}

// Draft is a message being received. A body up to Options.LogMaxMessage
// is kept in memory and committed to the log; beyond that it is streamed
// to a file in tmp/ and nothing of it is kept in memory beyond a small
// buffer. A Draft is used by one goroutine. It ends with Commit or Abort;
// a draft a crash interrupts is removed by the next Open.
type Draft struct {
	q    *Queue
	id   string
	mem  []byte // the log entry being built (startPut); nil once in a file
	f    File
	bw   *bufio.Writer
	n    int64 // body bytes accepted
	err  error // sticky write error
	done bool
}

// Create starts a new message. Only the queue's owner can create.
func (q *Queue) Create(ctx context.Context) (*Draft, error) {
	if !q.owner {
		return nil, ErrNotOwner
	}
	if q.isClosed() {
		return nil, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for range 8 {
		id := q.ids.next(q.opts.Clock())
		if q.known(id) || exists(q.recPath(id)) || exists(q.msgPath(id)) {
			continue // a clock stepped back past a previous run's IDs
		}
		d := &Draft{q: q, id: id}
		if q.opts.LogMaxMessage > 0 {
			d.mem = startPut(q.getEntryBuf(), id)
			return d, nil
		}
		err := d.toFile()
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return nil, tempErr("create draft", err)
		}
		return d, nil
	}
	return nil, tempErr("create draft", errors.New("no free queue ID"))
}

// known reports whether a queued message has id.
func (q *Queue) known(id string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.entries[id] != nil
}

// toFile moves the draft to its file in tmp/: the body received so far is
// written there and later writes go there too.
func (d *Draft) toFile() error {
	f, err := d.q.fs.OpenFile(d.q.draftPath(d.id), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	d.f, d.bw = f, bufio.NewWriterSize(f, draftBuffer)
	if d.mem != nil {
		body := d.mem[putPrefixLen(d.id):]
		_, err = d.bw.Write(body)
		d.q.putEntryBuf(d.mem)
		d.mem = nil
	}
	return err
}

// ID returns the queue ID the message will have once committed.
func (d *Draft) ID() string { return d.id }

// Write appends body bytes (the part after the header section). An I/O
// error is returned as ErrTemporary and every later Write and Commit
// fail with it.
func (d *Draft) Write(p []byte) (int, error) {
	if d.done {
		return 0, ErrDraftDone
	}
	if d.err != nil {
		return 0, d.err
	}
	if d.mem != nil {
		if d.n+int64(len(p)) <= d.q.opts.LogMaxMessage {
			d.mem = append(d.mem, p...)
			d.n += int64(len(p))
			return len(p), nil
		}
		if err := d.toFile(); err != nil {
			d.err = tempErr("write "+d.id, err)
			return 0, d.err
		}
	}
	n, err := d.bw.Write(p)
	d.n += int64(n)
	if err != nil {
		d.err = tempErr("write "+d.id, err)
	}
	return n, d.err
}

// Commit appends header (the final header section, ending with its empty
// line) to the content, stores rec as the message's record and returns
// once both are durable (see the package documentation), with the queue
// ID. rec's ID, Size and HeaderSize are set by Commit; a zero Arrived
// becomes now. The Draft is finished whether Commit succeeds or fails: on
// failure nothing of the message stays in the queue. Storage failures
// match ErrTemporary; an invalid rec (no recipients, control characters)
// does not.
func (d *Draft) Commit(ctx context.Context, rec Record, header []byte) (string, error) {
	if d.done {
		return "", ErrDraftDone
	}
	d.done = true
	if d.err != nil {
		d.cleanup()
		return "", d.err
	}
	r := rec.clone()
	r.ID, r.HeaderSize, r.Size = d.id, int64(len(header)), d.n+int64(len(header))
	if r.Arrived.IsZero() {
		r.Arrived = d.q.opts.Clock()
	}
	data, err := encodeRecord(&r)
	if err != nil {
		d.cleanup()
		return "", fmt.Errorf("queue: bad record: %w", err)
	}
	var loc *logLoc
	if d.mem != nil {
		loc, err = d.commitLog(ctx, header, data)
	} else {
		err = d.commitFile(ctx, header, data)
	}
	if err != nil {
		d.cleanup()
		return "", err
	}
	d.q.added(&r, loc)
	if d.mem != nil {
		d.q.putEntryBuf(d.mem)
		d.mem = nil
	}
	return d.id, nil
}

// commitLog appends the message to the log as one entry.
func (d *Draft) commitLog(ctx context.Context, header, data []byte) (*logLoc, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	entry, bodyOff, hdrOff := finishPut(d.mem, d.id, header, data)
	d.mem = entry
	res := d.q.commit.appendEntry(entry, true)
	if res.err != nil {
		return nil, tempErr("commit "+d.id, res.err)
	}
	return &logLoc{seq: res.seq, bodyOff: res.off + bodyOff, hdrOff: res.off + hdrOff}, nil
}

// commitFile finishes the draft's file and renames it into q/.
func (d *Draft) commitFile(ctx context.Context, header, data []byte) error {
	q := d.q
	// One file: body, header section, then the record and its trailer
	// (see tail.go), fsynced before it is renamed into q/.
	if _, err := d.bw.Write(header); err != nil {
		return tempErr("write header of "+d.id, err)
	}
	if _, err := d.bw.Write(appendTail(nil, data)); err != nil {
		return tempErr("write record of "+d.id, err)
	}
	if err := d.finishFile(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := q.fs.Rename(q.draftPath(d.id), q.msgPath(d.id)); err != nil {
		return tempErr("commit "+d.id, err)
	}
	if err := q.commit.sync(ctx); err != nil {
		return tempErr("sync "+q.qdir, err)
	}
	return nil
}

// finishFile flushes, fsyncs and closes the draft file.
func (d *Draft) finishFile() error {
	err := d.bw.Flush()
	if err == nil {
		err = d.f.Sync()
	}
	cerr := d.f.Close()
	d.f = nil
	if err == nil {
		err = cerr
	}
	return tempErr("write "+d.id, err)
}

// Abort discards the draft. It is a no-op after Commit or Abort.
func (d *Draft) Abort() error {
	if d.done {
		return nil
	}
	d.done = true
	d.cleanup()
	return nil
}

// cleanup removes whatever the draft left: the draft, or the file a failed
// commit had already renamed into q/.
func (d *Draft) cleanup() {
	if d.mem != nil {
		d.q.putEntryBuf(d.mem)
		d.mem = nil
		return
	}
	if d.f != nil {
		_ = d.f.Close()
		d.f = nil
	}
	q := d.q
	for _, p := range []string{q.draftPath(d.id), q.msgPath(d.id)} {
		if err := q.fs.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			q.log.Warn("queue: cannot remove file of a failed message", "id", d.id, "file", p, "err", err)
		}
	}
}

// Put stores a whole message: header is the header section, body is read
// to its end and streamed to disk. It is Create, Write and Commit in one.
// An error reading body is returned as it is (it is not ErrTemporary).
func (q *Queue) Put(ctx context.Context, rec Record, header []byte, body io.Reader) (string, error) {
	d, err := q.Create(ctx)
	if err != nil {
		return "", err
	}
	if _, err := io.Copy(d, body); err != nil {
		_ = d.Abort()
		if d.err != nil {
			return "", d.err
		}
		return "", fmt.Errorf("queue: read message body: %w", err)
	}
	return d.Commit(ctx, rec, header)
}

func exists(name string) bool {
	_, err := os.Lstat(name)
	return err == nil
}
