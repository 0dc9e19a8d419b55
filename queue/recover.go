package queue

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// recover brings the spool to a consistent state and loads it: it removes
// the temp files of tmp/, loads the live messages of the log, loads every
// message of q/ (its content file's embedded record, or q/ID.json when
// present), moves messages it cannot read to bad/, removes records without
// a content file, and moves unknown files to bad/. It returns the
// messages found both in the log and in q/ (a move out of the log that a
// crash interrupted): their file wins, and finishRecovery retires their
// log copy.
func (q *Queue) recover() ([]string, error) {
	if err := q.clearTmp(); err != nil {
		return nil, err
	}
	logged, err := q.scanLogForRecovery()
	if err != nil {
		return nil, err
	}
	stale, err := q.recoverFiles(logged)
	if err != nil {
		return nil, err
	}
	for _, id := range logged.order {
		if f, ok := logged.live[id]; ok {
			loc := f.loc
			q.added(f.rec, &loc)
			q.seglog.live[loc.seq]++
		}
	}
	return stale, nil
}

// scanLogForRecovery reads the log and sets up the segment bookkeeping.
func (q *Queue) scanLogForRecovery() (*logScan, error) {
	s, err := scanLog(q.logdir)
	if err != nil {
		return nil, err
	}
	for _, seq := range s.segs {
		if err := s.torn[seq]; err != nil {
			q.log.Info("queue: ignoring the end of a log segment (a write a stop or crash cut short)",
				"segment", segName(seq), "err", err)
		}
	}
	for id, err := range s.bad {
		q.log.Error("queue: a logged message has an unusable record and is skipped", "id", id, "err", err)
	}
	q.seglog.segs = s.segs
	if n := len(s.segs); n > 0 {
		q.seglog.next = s.segs[n-1] + 1
	}
	return s, nil
}

// finishRecovery logs the deletes of stale log copies and removes the
// segments nothing live is left in (committer running).
func (q *Queue) finishRecovery(stale []string) error {
	for _, id := range stale {
		if res := q.commit.appendEntry(delEntry(id), false); res.err != nil {
			return fmt.Errorf("queue: retire the log copy of %s: %w", id, res.err)
		}
	}
	q.seglog.reclaim()
	q.log.Info("queue: opened", "dir", q.dir, "messages", len(q.entries))
	return nil
}

// recoverFiles loads the messages of q/ (see recover) and returns those
// that logged also holds, taking them out of it.
func (q *Queue) recoverFiles(logged *logScan) ([]string, error) {
	names, err := readDirNames(q.qdir)
	if err != nil {
		return nil, err
	}
	var stale []string
	msgs, recs := []string{}, map[string]bool{}
	changed := false
	for _, n := range names {
		id, ext, _ := strings.Cut(n, ".")
		switch {
		case validID(id) && ext == "msg":
			msgs = append(msgs, id)
		case validID(id) && ext == "json":
			recs[id] = true
		default:
			q.moveAside(n, "unknown file in the queue directory")
			changed = true
		}
	}
	for _, id := range msgs {
		hasRec := recs[id]
		delete(recs, id)
		r, err := q.loadMessage(id)
		if err == nil {
			q.added(r, nil)
			if _, ok := logged.live[id]; ok {
				delete(logged.live, id)
				stale = append(stale, id)
			}
			continue
		}
		// The content first: alone in q/, its embedded record would
		// bring the message back in an older state.
		changed = true
		if errors.As(err, new(errRecord)) {
			q.moveAside(id+".msg", "its record is unreadable")
			q.moveAside(id+".json", err.Error())
			continue
		}
		q.moveAside(id+".msg", err.Error())
		if hasRec {
			q.moveAside(id+".json", "its content was moved aside")
		}
	}
	for id := range recs {
		q.log.Info("queue: removing a record without content (an unfinished delete)", "id", id)
		if err := q.fs.Remove(q.recPath(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		changed = true
	}
	if changed {
		if err := q.fs.SyncDir(q.qdir); err != nil {
			return nil, err
		}
	}
	return stale, nil
}

// clearTmp removes every file of tmp/.
func (q *Queue) clearTmp() error {
	names, err := readDirNames(q.tmpdir)
	if err != nil {
		return err
	}
	for _, n := range names {
		if err := q.fs.Remove(filepath.Join(q.tmpdir, n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if len(names) > 0 {
		q.log.Info("queue: removed files of unfinished messages", "dir", q.tmpdir, "files", len(names))
	}
	return nil
}

// readRecord reads and decodes a record file.
func readRecord(name string) (*Record, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() > maxRecordSize {
		return nil, fmt.Errorf("record is %d bytes, more than %d", fi.Size(), maxRecordSize)
	}
	b := make([]byte, fi.Size())
	if _, err := f.ReadAt(b, 0); err != nil && fi.Size() > 0 {
		return nil, err
	}
	r, err := decodeRecord(b)
	if err != nil {
		return nil, fmt.Errorf("bad record: %w", err)
	}
	return r, nil
}

// moveAside renames q/name to bad/name (keeping an earlier one there) and
// logs why. It never deletes.
func (q *Queue) moveAside(name, why string) {
	dst := filepath.Join(q.baddir, name)
	for i := 1; exists(dst) && i < 1000; i++ {
		dst = filepath.Join(q.baddir, fmt.Sprintf("%s.%d", name, i))
	}
	if err := q.fs.Rename(filepath.Join(q.qdir, name), dst); err != nil {
		q.log.Error("queue: cannot move aside", "file", name, "reason", why, "err", err)
		return
	}
	q.log.Warn("queue: moved aside", "file", name, "to", dst, "reason", why)
}

// readDirNames lists a directory's entries, sorted.
func readDirNames(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	sort.Strings(names)
	return names, err
}
