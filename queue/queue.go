package queue

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Options configure a Queue. Only Dir is required; every other zero value
// has the documented default.
type Options struct {
	Dir    string          // the spool directory; created (0700) when missing
	Retry  []time.Duration // waits between attempts, the last repeating; empty: 1m 5m 15m 1h 4h
	MaxAge time.Duration   // bounce what is still undelivered after this long; 0: 5 days
	// Jitter is the fraction by which each retry wait is randomly
	// lengthened or shortened (0.1: ±10%). 0 means 0.1; negative: none.
	Jitter float64
	Logger *slog.Logger     // nil: discard
	Clock  func() time.Time // nil: time.Now
	Rand   func() float64   // values in [0,1) for jitter; nil: math/rand/v2
	FS     FS               // nil: the operating system
	// LockWait is how long Open waits for another process to release the
	// queue directory before failing with ErrLocked. 0: 10s.
	LockWait time.Duration
	// CommitWindow, when positive, makes the committer wait this long
	// after the first pending commit before it syncs the directory, to
	// gather more commits into one fsync. 0: no wait; commits that arrive
	// while a sync runs still share the next one.
	CommitWindow time.Duration
	// ControlTimeout is how long an operation sent to the owning process
	// (OpenControl) waits for its answer. 0: 10s.
	ControlTimeout time.Duration
	// LogMaxMessage: a message whose body is at most this many bytes is
	// kept in memory while it is received and then appended to the shared
	// log, where concurrent commits share one fsync; a larger one is
	// streamed to a file of its own. 0: 128 KiB; negative: every message
	// gets a file.
	LogMaxMessage int64
	// SegmentSize: the log moves to a new segment file once the current
	// one is this big. 0: 64 MiB.
	SegmentSize int64
	// Observer is told of each recipient's outcome and of each DSN
	// queued by Run, for metrics; nil: nobody.
	Observer Observer
}

const (
	defaultMaxAge         = 5 * 24 * time.Hour
	defaultJitter         = 0.1
	defaultLockWait       = 10 * time.Second
	defaultControlTimeout = 10 * time.Second
	defaultLogMaxMessage  = 128 << 10
	defaultSegmentSize    = 64 << 20
)

func (o Options) withDefaults() Options {
	if len(o.Retry) == 0 {
		o.Retry = defaultRetry
	}
	if o.MaxAge <= 0 {
		o.MaxAge = defaultMaxAge
	}
	switch {
	case o.Jitter == 0:
		o.Jitter = defaultJitter
	case o.Jitter < 0:
		o.Jitter = 0
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Rand == nil {
		o.Rand = rand.Float64
	}
	if o.FS == nil {
		o.FS = osFS{}
	}
	if o.LockWait <= 0 {
		o.LockWait = defaultLockWait
	}
	if o.ControlTimeout <= 0 {
		o.ControlTimeout = defaultControlTimeout
	}
	if o.LogMaxMessage == 0 {
		o.LogMaxMessage = defaultLogMaxMessage
	}
	if o.SegmentSize <= 0 {
		o.SegmentSize = defaultSegmentSize
	}
	return o
}

// Queue is an open spool directory. The methods are safe for concurrent
// use. A Queue from Open owns the directory; one from OpenControl may be a
// client of the process that does (see Owner).
type Queue struct {
	opts                      Options
	log                       *slog.Logger
	fs                        FS
	dir, qdir, tmpdir, ctldir string
	baddir, logdir            string
	seglog                    *segLog   // owner only
	entryBufs                 sync.Pool // []byte for drafts' log entries
	owner                     bool      // this Queue owns the directory (holds the lock)
	lock                      *os.File  // the locked file while owned; nil for a client and after Close
	ownerPID                  string    // for a client: the owner's pid as its lock file says
	ids                       idGen
	commit                    *committer
	kick                      chan struct{}
	mu                        sync.Mutex
	entries                   map[string]*entry // q.mu
	due                       dueHeap           // q.mu
	running, closed           bool              // q.mu
	bounceHost                string            // q.mu: the running runner's Hostname, for DSNs
	closeOnce                 sync.Once
}

// Open opens (creating it when needed) the spool in opts.Dir as its owner:
// it locks the directory, waiting up to LockWait for another owner,
// recovers what a previous process left, and loads every message.
func Open(opts Options) (*Queue, error) {
	q, err := newQueue(opts)
	if err != nil {
		return nil, err
	}
	if err := q.acquire(true); err != nil {
		return nil, err
	}
	if err := q.start(); err != nil {
		q.release()
		return nil, err
	}
	return q, nil
}

// OpenControl opens the spool for operations (`sluice queue`): as its
// owner, like Open, when no process holds it; otherwise as a client of the
// owner: List, Show and Message read the files, Hold, Release, Delete and
// Flush are sent to the owner, and Create, Put and Run fail with
// ErrNotOwner.
func OpenControl(opts Options) (*Queue, error) {
	q, err := newQueue(opts)
	if err != nil {
		return nil, err
	}
	err = q.acquire(false)
	if errors.Is(err, ErrLocked) {
		q.ownerPID = readPID(filepath.Join(q.dir, "lock"))
		return q, nil
	}
	if err != nil {
		return nil, err
	}
	if err := q.start(); err != nil {
		q.release()
		return nil, err
	}
	return q, nil
}

func newQueue(opts Options) (*Queue, error) {
	if opts.Dir == "" {
		return nil, errors.New("queue: no directory")
	}
	opts = opts.withDefaults()
	q := &Queue{
		opts: opts, log: opts.Logger, fs: opts.FS, dir: opts.Dir,
		qdir:    filepath.Join(opts.Dir, "q"),
		tmpdir:  filepath.Join(opts.Dir, "tmp"),
		baddir:  filepath.Join(opts.Dir, "bad"),
		ctldir:  filepath.Join(opts.Dir, "ctl"),
		logdir:  filepath.Join(opts.Dir, "log"),
		kick:    make(chan struct{}, 1),
		entries: map[string]*entry{},
	}
	for _, d := range []string{q.dir, q.qdir, q.tmpdir, q.baddir, q.ctldir, q.logdir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("queue: %w", err)
		}
	}
	return q, nil
}

// start recovers the spool and starts the committer (owner only).
func (q *Queue) start() error {
	q.seglog = newSegLog(q.fs, q.logdir, q.opts.SegmentSize, q.log)
	stale, err := q.recover()
	if err != nil {
		return fmt.Errorf("queue: recovery of %s: %w", q.dir, err)
	}
	q.commit = newCommitter(q.fs, q.qdir, q.opts.CommitWindow, q.seglog)
	return q.finishRecovery(stale)
}

// Owner reports whether this Queue owns the directory. When it does not,
// OwnerPID names the process that does.
func (q *Queue) Owner() bool { return q.owner }

// OwnerPID returns the pid the owner wrote in the lock file, for a Queue
// that is a client ("" when unknown or when this Queue is the owner).
func (q *Queue) OwnerPID() string { return q.ownerPID }

// Dir returns the spool directory.
func (q *Queue) Dir() string { return q.dir }

// Close stops the committer and releases the directory. Cancel Run's
// context and wait for Run to return before Close; drafts still open fail
// to commit afterwards.
func (q *Queue) Close() error {
	q.closeOnce.Do(func() {
		q.mu.Lock()
		q.closed = true
		q.mu.Unlock()
		if q.commit != nil {
			q.commit.close()
		}
		q.release()
	})
	return nil
}

func (q *Queue) isClosed() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.closed
}

func (q *Queue) msgPath(id string) string   { return filepath.Join(q.qdir, id+".msg") }
func (q *Queue) recPath(id string) string   { return filepath.Join(q.qdir, id+".json") }
func (q *Queue) draftPath(id string) string { return filepath.Join(q.tmpdir, id+".msg") }
func (q *Queue) tmpRecPath(id string) string {
	return filepath.Join(q.tmpdir, id+".json")
}

// notify wakes the runner, if one waits.
func (q *Queue) notify() {
	select {
	case q.kick <- struct{}{}:
	default:
	}
}
