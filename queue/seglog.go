package queue

import (
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
)

// segLog is the log of small messages (see segment.go): the committer
// goroutine appends batches of entries to the current segment with one
// fsync per batch; removals release segments, which are deleted oldest
// first once none of their messages is live.
type segLog struct {
	fs      FS
	dir     string
	maxSize int64
	log     *slog.Logger

	mu   sync.Mutex
	live map[uint64]int // segment -> live puts (mu)
	segs []uint64       // existing segments, oldest first (mu)
	cur  uint64         // the segment being appended to; 0: none (mu)
	next uint64         // the number of the next segment (committer)

	// The committer goroutine's alone.
	f    File
	size int64

	reclaimMu sync.Mutex
}

func newSegLog(fsys FS, dir string, maxSize int64, log *slog.Logger) *segLog {
	return &segLog{fs: fsys, dir: dir, maxSize: maxSize, log: log, live: map[uint64]int{}, next: 1}
}

func (l *segLog) path(seq uint64) string { return filepath.Join(l.dir, segName(seq)) }

// commitReq is one request to the committer: an entry to append to the
// log, or (entry nil) a sync of the queue directory.
type commitReq struct {
	entry []byte
	put   bool // the entry stores a message: its segment gains a live one
	done  chan commitResult

	offset int64 // where the entry was written (committer)
}

// commitResult answers a commitReq: where the entry was written.
type commitResult struct {
	seq uint64
	off int64
	err error
}

// write appends the entries of reqs to the current segment and fsyncs
// it, then answers every request (committer goroutine only). On failure
// the entries are cut off again where possible and every request gets the
// error; a segment whose fsync failed is not written again.
func (l *segLog) write(reqs []*commitReq) {
	if l.f == nil || l.size >= l.maxSize {
		if err := l.rotate(); err != nil {
			answerAll(reqs, err)
			return
		}
	}
	seq, start := l.curSeq(), l.size
	l.addLive(seq, reqs, 1)
	off, err := start, error(nil)
	for _, r := range reqs {
		var n int
		n, err = l.f.Write(r.entry)
		if err != nil {
			break
		}
		r.offset = off
		off += int64(n)
	}
	writeFailed := err != nil
	if !writeFailed {
		err = l.f.Sync()
	}
	if err != nil {
		l.addLive(seq, reqs, -1)
		l.cutBack(start, writeFailed)
		answerAll(reqs, err)
		return
	}
	l.size = off
	for _, r := range reqs {
		r.done <- commitResult{seq: seq, off: r.offset}
	}
}

func answerAll(reqs []*commitReq, err error) {
	for _, r := range reqs {
		r.done <- commitResult{err: err}
	}
}

// cutBack removes a failed batch from the end of the segment. When the
// truncation fails, or the fsync did (the file's state is then unknown),
// the segment is closed and the next batch starts a new one.
func (l *segLog) cutBack(start int64, writeFailed bool) {
	t, ok := l.f.(interface{ Truncate(int64) error })
	if ok && t.Truncate(start) == nil && writeFailed {
		l.size = start
		return
	}
	l.log.Warn("queue: abandoning a log segment after a failed write", "segment", l.path(l.curSeq()))
	_ = l.f.Close()
	l.f = nil
	l.mu.Lock()
	l.cur = 0
	l.mu.Unlock()
	l.reclaim()
}

func (l *segLog) curSeq() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cur
}

// addLive adds d to the live count of seq for every put in reqs.
func (l *segLog) addLive(seq uint64, reqs []*commitReq, d int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range reqs {
		if r.put {
			l.live[seq] += d
		}
	}
}

// rotate starts a new segment, durable in the directory before it is
// used, and lets the previous one be reclaimed. The segment is opened
// with O_APPEND so that writes after cutBack's truncation land at the new
// end, not at the old file offset past a hole.
func (l *segLog) rotate() error {
	if l.f != nil {
		_ = l.f.Close()
		l.f = nil
	}
	seq := l.next
	l.next++
	f, err := l.fs.OpenFile(l.path(seq), os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		f.Close()
		_ = l.fs.Remove(l.path(seq))
		return err
	}
	l.mu.Lock()
	l.segs = append(l.segs, seq)
	l.cur = seq
	l.mu.Unlock()
	l.f, l.size = f, 0
	l.reclaim()
	return nil
}

// release says that a message of segment seq is gone (its delete entry is
// durable, or it moved to a file of its own).
func (l *segLog) release(seq uint64) {
	l.mu.Lock()
	l.live[seq]--
	oldest := len(l.segs) > 0 && l.segs[0] == seq && l.live[seq] <= 0
	l.mu.Unlock()
	if oldest {
		l.reclaim()
	}
}

// reclaim deletes the oldest segments while none of their messages is live
// and they are not being appended to. Each removal is made durable before
// the next: a newer segment holds the deletes of an older one's messages,
// so it must never disappear first.
func (l *segLog) reclaim() {
	l.reclaimMu.Lock()
	defer l.reclaimMu.Unlock()
	for {
		l.mu.Lock()
		if len(l.segs) == 0 || l.segs[0] == l.cur || l.live[l.segs[0]] > 0 {
			l.mu.Unlock()
			return
		}
		seq := l.segs[0]
		l.mu.Unlock()
		if err := l.fs.Remove(l.path(seq)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			l.log.Error("queue: cannot remove a log segment", "segment", l.path(seq), "err", err)
			return
		}
		if err := l.fs.SyncDir(l.dir); err != nil {
			l.log.Error("queue: cannot sync the log directory", "dir", l.dir, "err", err)
			return
		}
		l.mu.Lock()
		l.segs = l.segs[1:]
		delete(l.live, seq)
		l.mu.Unlock()
	}
}

// close closes the current segment (committer stopped).
func (l *segLog) close() {
	if l.f != nil {
		_ = l.f.Close()
		l.f = nil
	}
}
