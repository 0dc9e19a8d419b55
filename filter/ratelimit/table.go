package ratelimit

import (
	"hash/maphash"
	"math"
	"sync"
	"time"
)

// kind is one of the three limits.
type kind uint8

const (
	kindConn kind = iota
	kindMail
	kindRcpt
	numKinds
)

// rate is one limit in GCRA terms: each event moves the client's
// theoretical arrival time by interval (Window/N), and an event is allowed
// while that time is at most tolerance (Window - interval) ahead of now.
// The zero rate is no limit.
type rate struct {
	interval  int64
	tolerance int64
}

func newRate(n int, window time.Duration) rate {
	if n <= 0 {
		return rate{}
	}
	iv := int64(window) / int64(n)
	return rate{interval: iv, tolerance: int64(window) - iv}
}

func (r rate) on() bool { return r.interval > 0 }

// clientKey is a client: its IPv4 address (mapped into IPv6 form) or its
// masked IPv6 network.
type clientKey [16]byte

// never is the arrival time of a client with no events yet: any now is
// after it.
const never = math.MinInt64

// entry is one tracked client, linked into its shard's LRU list by index.
type entry struct {
	key        clientKey
	tat        [numKinds]int64 // theoretical arrival time per limit, ns since the epoch
	prev, next int32           // towards more / less recently used; -1 at the ends
}

// shard is one lock's share of the table.
type shard struct {
	mu         sync.Mutex
	idx        map[clientKey]int32
	ents       []entry // grows up to limit, then slots are reused
	head, tail int32   // most and least recently used; -1 when empty
	limit      int
	_          [64]byte // keep shards' locks on separate cache lines
}

// table maps clients to their buckets, at most max of them.
type table struct {
	seed   maphash.Seed
	shards []shard
}

const (
	maxShards     = 16
	minShardSlots = 256 // below this many clients per shard, fewer shards
)

// newTable returns a table of at most max clients, split into up to
// maxShards shards whose limits add up to max exactly.
func newTable(max int) *table {
	n := 1
	for n < maxShards && max/(n*2) >= minShardSlots {
		n *= 2
	}
	t := &table{seed: maphash.MakeSeed(), shards: make([]shard, n)}
	for i := range t.shards {
		s := &t.shards[i]
		s.limit = max / n
		if i < max%n {
			s.limit++
		}
		s.idx = make(map[clientKey]int32)
		s.head, s.tail = -1, -1
	}
	return t
}

func (t *table) shard(k *clientKey) *shard {
	if len(t.shards) == 1 {
		return &t.shards[0]
	}
	return &t.shards[maphash.Bytes(t.seed, k[:])&uint64(len(t.shards)-1)]
}

// take spends one event of kind for client k at time now under r, and
// reports whether it was allowed. A refused event changes nothing but the
// client's place in the LRU list.
func (t *table) take(k clientKey, kd kind, r rate, now int64) bool {
	s := t.shard(&k)
	s.mu.Lock()
	e := &s.ents[s.get(k)]
	tat := max(e.tat[kd], now)
	ok := tat-now <= r.tolerance
	if ok {
		e.tat[kd] = tat + r.interval
	}
	s.mu.Unlock()
	return ok
}

// get returns the slot of k, most recently used now; a new client takes a
// free slot or the least recently used one's.
func (s *shard) get(k clientKey) int32 {
	if i, ok := s.idx[k]; ok {
		if i != s.head {
			s.unlink(i)
			s.pushFront(i)
		}
		return i
	}
	var i int32
	if len(s.ents) < s.limit {
		i = int32(len(s.ents))
		s.ents = append(s.ents, entry{})
	} else {
		i = s.tail
		s.unlink(i)
		delete(s.idx, s.ents[i].key)
	}
	s.ents[i] = entry{key: k, tat: [numKinds]int64{never, never, never}}
	s.idx[k] = i
	s.pushFront(i)
	return i
}

func (s *shard) unlink(i int32) {
	e := &s.ents[i]
	if e.prev >= 0 {
		s.ents[e.prev].next = e.next
	} else {
		s.head = e.next
	}
	if e.next >= 0 {
		s.ents[e.next].prev = e.prev
	} else {
		s.tail = e.prev
	}
}

func (s *shard) pushFront(i int32) {
	e := &s.ents[i]
	e.prev, e.next = -1, s.head
	if s.head >= 0 {
		s.ents[s.head].prev = i
	}
	s.head = i
	if s.tail < 0 {
		s.tail = i
	}
}

// len returns how many clients the table tracks.
func (t *table) len() int {
	n := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		n += len(s.idx)
		s.mu.Unlock()
	}
	return n
}
