package milterclient

import (
	"sync"
	"time"
)

// breaker is a circuit breaker over connection attempts. Closed, every
// session dials. After Failures consecutive failed attempts it opens: no
// session dials until OpenFor has passed; then exactly one session probes
// (half-open) while the others keep getting the default action. A probe
// that connects closes the circuit; one that fails opens it again.
type breaker struct {
	threshold int // <= 0: never opens
	openFor   time.Duration

	mu        sync.Mutex
	failures  int
	open      bool
	openUntil time.Time
	probing   bool
}

func newBreaker(o BreakerOptions) *breaker {
	return &breaker{threshold: o.Failures, openFor: o.OpenFor}
}

// allow reports whether a session may dial now. probe is true when it is
// the half-open probe; the caller must then report success, failure or
// release.
func (b *breaker) allow(now time.Time) (ok, probe bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.open {
		return true, false
	}
	if now.Before(b.openUntil) || b.probing {
		return false, false
	}
	b.probing = true
	return true, true
}

// success records a connection that worked. It reports whether the
// circuit was open (so the recovery can be logged).
func (b *breaker) success(probe bool) (recovered bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if probe {
		b.probing = false
	}
	recovered = b.open
	b.failures, b.open = 0, false
	return recovered
}

// failure records a failed attempt. It reports whether the circuit opened
// (or opened again after a probe) because of it.
func (b *breaker) failure(now time.Time, probe bool) (opened bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if probe {
		b.probing = false
	}
	b.failures++
	if b.threshold <= 0 || b.failures < b.threshold {
		return false
	}
	if b.open && !probe {
		return false // a session that dialed before the circuit opened
	}
	b.open = true
	b.openUntil = now.Add(b.openFor)
	return true
}

// release gives back a probe that ended for a reason of our own (the
// caller's context), neither success nor failure.
func (b *breaker) release(probe bool) {
	if !probe {
		return
	}
	b.mu.Lock()
	b.probing = false
	b.mu.Unlock()
}

// isOpen reports whether the circuit is open (half-open counts as open).
func (b *breaker) isOpen() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.open
}
