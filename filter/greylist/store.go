package greylist

import (
	"net/netip"
	"slices"
	"sync"
	"time"
)

// tripletKey is what greylisting remembers: the client's network, the
// normalized sender and the recipient.
type tripletKey struct {
	net      netip.Prefix
	from, to string
}

// triplet is the history of one tripletKey.
type triplet struct {
	first  time.Time // first attempt (of the current greylisting round)
	last   time.Time // last attempt
	passed time.Time // first retry that passed; zero while greylisted
}

// client is the auto-whitelist record of one network.
type client struct {
	count int       // messages passed
	last  time.Time // last message, passed or whitelisted
}

type storeLimits struct {
	delay, retry, expire time.Duration
	awl                  int // messages that whitelist a network; <= 0: never
	max                  int // entries of each map
}

// store holds the triplets and the auto-whitelist in memory.
type store struct {
	lim      storeLimits
	mu       sync.Mutex
	triplets map[tripletKey]*triplet
	clients  map[netip.Prefix]*client
}

func newStore(lim storeLimits) *store {
	return &store{lim: lim, triplets: map[tripletKey]*triplet{}, clients: map[netip.Prefix]*client{}}
}

// outcome is the decision on one triplet.
type outcome struct {
	pass  bool
	first bool          // the triplet passed for the first time
	wait  time.Duration // when refused: how long until a retry passes
}

// check records an attempt of k at now and decides on it.
func (s *store) check(now time.Time, k tripletKey) outcome {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.triplets[k]
	if t != nil && s.tripletDead(now, t) {
		delete(s.triplets, k)
		t = nil
	}
	if t == nil {
		if len(s.triplets) >= s.lim.max {
			evict(s.triplets, s.lim.max, func(t *triplet) bool { return s.tripletDead(now, t) },
				func(t *triplet) time.Time { return t.last })
		}
		s.triplets[k] = &triplet{first: now, last: now}
		return outcome{wait: s.lim.delay}
	}
	t.last = now
	if !t.passed.IsZero() {
		return outcome{pass: true}
	}
	if wait := t.first.Add(s.lim.delay).Sub(now); wait > 0 {
		return outcome{wait: wait}
	}
	t.passed = now
	return outcome{pass: true, first: true}
}

// tripletDead reports whether t is forgotten at now: a greylisted
// triplet after the retry window, a passed one after expire.
func (s *store) tripletDead(now time.Time, t *triplet) bool {
	if t.passed.IsZero() {
		return now.Sub(t.first) > s.lim.retry
	}
	return now.Sub(t.last) > s.lim.expire
}

func (s *store) clientDead(now time.Time, c *client) bool {
	return now.Sub(c.last) > s.lim.expire
}

// autoWhitelisted reports whether network n has passed enough messages,
// and if so keeps it alive.
func (s *store) autoWhitelisted(now time.Time, n netip.Prefix) bool {
	if s.lim.awl <= 0 {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.clients[n]
	if c == nil || c.count < s.lim.awl || s.clientDead(now, c) {
		return false
	}
	c.last = now
	return true
}

// countPass counts one message that passed from network n.
func (s *store) countPass(now time.Time, n netip.Prefix) {
	if s.lim.awl <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.clients[n]
	if c != nil && s.clientDead(now, c) {
		c = nil
	}
	if c == nil {
		if len(s.clients) >= s.lim.max {
			evict(s.clients, s.lim.max, func(c *client) bool { return s.clientDead(now, c) },
				func(c *client) time.Time { return c.last })
		}
		c = &client{}
		s.clients[n] = c
	}
	c.count++
	c.last = now
}

// prune removes every expired entry.
func (s *store) prune(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, t := range s.triplets {
		if s.tripletDead(now, t) {
			delete(s.triplets, k)
		}
	}
	for k, c := range s.clients {
		if s.clientDead(now, c) {
			delete(s.clients, k)
		}
	}
}

// evict makes room in m, which holds max entries or more: it removes the
// dead entries and, if that is not enough, the tenth of max (at least
// one) seen least recently, so that eviction is rare.
func evict[K comparable, V any](m map[K]V, max int, dead func(V) bool, last func(V) time.Time) {
	for k, v := range m {
		if dead(v) {
			delete(m, k)
		}
	}
	if len(m) < max {
		return
	}
	type aged struct {
		k K
		t time.Time
	}
	all := make([]aged, 0, len(m))
	for k, v := range m {
		all = append(all, aged{k, last(v)})
	}
	slices.SortFunc(all, func(a, b aged) int { return a.t.Compare(b.t) })
	n := len(m) - max + max/10 + 1
	for _, a := range all[:min(n, len(all))] {
		delete(m, a.k)
	}
}
