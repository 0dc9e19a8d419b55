package queue

import (
	"container/heap"
	"sync"
	"time"
)

// entry is a queued message in the owner's memory. The record on disk is
// written from it; only the owner process writes records.
type entry struct {
	wmu  sync.Mutex // serializes writing and removing this message's files
	rec  Record     // q.mu
	busy bool       // q.mu: a worker is delivering it
	gone bool       // q.mu: removed from the queue
	loc  *logLoc    // q.mu: where the content is in the log; nil: in q/ID.msg
}

// dueItem says that message id is due at at. The heap may hold stale
// items (the message was rescheduled, held, delivered): an item counts
// only if at still equals the entry's NextAttempt when it is popped.
type dueItem struct {
	at time.Time
	id string
}

type dueHeap []dueItem

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h dueHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *dueHeap) Push(x any)        { *h = append(*h, x.(dueItem)) }
func (h *dueHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	*h = old[:len(old)-1]
	return it
}

// added registers a committed or recovered message and wakes the runner.
func (q *Queue) added(r *Record, loc *logLoc) {
	e := &entry{rec: *r, loc: loc}
	q.mu.Lock()
	q.entries[r.ID] = e
	q.scheduleLocked(e)
	q.mu.Unlock()
	q.notify()
}

// scheduleLocked queues e's next attempt unless it is held, busy or gone.
func (q *Queue) scheduleLocked(e *entry) {
	if e.rec.Held || e.busy || e.gone {
		return
	}
	if len(q.due) > 2*len(q.entries)+64 {
		q.rebuildDueLocked()
	}
	heap.Push(&q.due, dueItem{at: e.rec.NextAttempt, id: e.rec.ID})
}

// rebuildDueLocked drops stale items so the heap stays near the number
// of messages.
func (q *Queue) rebuildDueLocked() {
	h := q.due[:0]
	for _, it := range q.due {
		if e := q.entries[it.id]; q.liveLocked(e, it) {
			h = append(h, it)
		}
	}
	q.due = h
	heap.Init(&q.due)
}

func (q *Queue) liveLocked(e *entry, it dueItem) bool {
	return e != nil && !e.gone && !e.busy && !e.rec.Held && e.rec.NextAttempt.Equal(it.at)
}

// popDueLocked returns the next message due at or before now and marks it
// busy, or nil and the time the next one is due (zero when none is).
func (q *Queue) popDueLocked(now time.Time) (*entry, time.Time) {
	for len(q.due) > 0 {
		it := q.due[0]
		e := q.entries[it.id]
		if !q.liveLocked(e, it) {
			heap.Pop(&q.due)
			continue
		}
		if it.at.After(now) {
			return nil, it.at
		}
		heap.Pop(&q.due)
		e.busy = true
		return e, time.Time{}
	}
	return nil, time.Time{}
}
