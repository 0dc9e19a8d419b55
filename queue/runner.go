package queue

import (
	"context"
	"errors"
	"os"
	"sync"
	"time"

	"github.com/sluice-mta/sluice/envelope"
)

// Deliverer delivers one message to the recipients it names and returns
// one result per recipient. The queue runner is its only caller; the
// smtpclient package and the maildir writer satisfy it. A recipient
// without a result counts as deferred.
type Deliverer interface {
	Deliver(ctx context.Context, m *envelope.Delivery) []envelope.RcptResult
}

// RunOptions configure Run. Every zero value has the documented default.
type RunOptions struct {
	Concurrency int    // deliveries at the same time; 0: 10
	Hostname    string // Reporting-MTA and sender domain of DSNs; "": the system host name
	// DelayWarning, when positive, sends one "delayed" DSN for a message
	// still undelivered this long after arrival (to recipients whose
	// NOTIFY asks for it or that have no NOTIFY). 0: no delay warnings.
	DelayWarning time.Duration
	// DeliveryTimeout bounds one Deliver call; 0: 30 minutes.
	DeliveryTimeout time.Duration
	// ControlInterval is how often the runner looks for requests from
	// other processes (sluice queue); 0: 250ms.
	ControlInterval time.Duration
	// MaxReturnSize is the largest original message a DSN returns whole
	// when the sender asked RET=FULL; a larger one is returned as its
	// header section only. 0: 10 MiB.
	MaxReturnSize int64
}

func (o RunOptions) withDefaults() RunOptions {
	if o.Concurrency <= 0 {
		o.Concurrency = 10
	}
	if o.Hostname == "" {
		o.Hostname, _ = os.Hostname()
		if o.Hostname == "" {
			o.Hostname = "localhost"
		}
	}
	if o.DeliveryTimeout <= 0 {
		o.DeliveryTimeout = 30 * time.Minute
	}
	if o.ControlInterval <= 0 {
		o.ControlInterval = 250 * time.Millisecond
	}
	if o.MaxReturnSize <= 0 {
		o.MaxReturnSize = 10 << 20
	}
	return o
}

// Run delivers due messages through d until ctx is cancelled, then waits
// for the deliveries in progress (their context is cancelled too) and
// returns nil. One scheduler goroutine (the caller's) picks due messages
// in order of their next attempt and hands each to a worker goroutine, at
// most opts.Concurrency at a time; commits, operations and finished
// workers wake it. Only one Run at a time, on the owner.
func (q *Queue) Run(ctx context.Context, d Deliverer, opts RunOptions) error {
	if !q.owner {
		return ErrNotOwner
	}
	opts = opts.withDefaults()
	q.mu.Lock()
	switch {
	case q.closed:
		q.mu.Unlock()
		return ErrClosed
	case q.running:
		q.mu.Unlock()
		return errors.New("queue: Run is already running")
	}
	q.running = true
	q.mu.Unlock()
	defer func() {
		q.mu.Lock()
		q.running = false
		q.mu.Unlock()
	}()
	r := &runner{q: q, d: d, opts: opts, done: make(chan struct{}, opts.Concurrency)}
	r.loop(ctx)
	return nil
}

// runner is the state of one Run.
type runner struct {
	q      *Queue
	d      Deliverer
	opts   RunOptions
	done   chan struct{} // a worker finished
	active int
	wg     sync.WaitGroup
}

func (r *runner) loop(ctx context.Context) {
	q := r.q
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	ctl := time.NewTicker(r.opts.ControlInterval)
	defer ctl.Stop()
	q.processControl(ctx)
	for {
		next := r.launch(ctx)
		timer.Stop()
		if !next.IsZero() {
			timer.Reset(max(next.Sub(q.opts.Clock()), time.Millisecond))
		}
		select {
		case <-ctx.Done():
			r.wg.Wait()
			return
		case <-q.kick:
		case <-timer.C:
		case <-r.done:
			r.active--
		case <-ctl.C:
			q.processControl(ctx)
		}
	}
}

// launch starts workers for due messages while there is room, and returns
// when the next message is due (zero when none is, or when every worker
// is busy: a finishing worker wakes the loop).
func (r *runner) launch(ctx context.Context) time.Time {
	q := r.q
	for r.active < r.opts.Concurrency {
		q.mu.Lock()
		e, next := q.popDueLocked(q.opts.Clock())
		q.mu.Unlock()
		if e == nil {
			return next
		}
		r.active++
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.work(ctx, e)
			r.done <- struct{}{}
		}()
	}
	return time.Time{}
}

// work makes one delivery attempt for e (which popDueLocked marked busy)
// and settles the outcome.
func (r *runner) work(ctx context.Context, e *entry) {
	q := r.q
	q.mu.Lock()
	rec := e.rec.clone()
	q.mu.Unlock()
	to := rec.pending()
	var results []envelope.RcptResult
	if len(to) > 0 {
		dctx, cancel := context.WithTimeout(ctx, r.opts.DeliveryTimeout)
		results = r.d.Deliver(dctx, q.delivery(&rec, to))
		cancel()
	}
	// The outcome is recorded even while shutting down.
	r.settle(context.WithoutCancel(ctx), e, len(to) > 0, results)
}
