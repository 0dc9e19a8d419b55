package queue

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"sync"
	"time"
)

// idLen is the length of a queue ID: 13 hex digits of Unix microseconds
// (enough until the year 2112) then 3 random hex digits. IDs sort by
// creation time and are safe as file names.
const idLen = 16

// idGen makes queue IDs that are unique within a process even when the
// clock stands still or steps back: the time part never repeats.
type idGen struct {
	mu   sync.Mutex
	last int64 // the time part of the previous ID
}

func (g *idGen) next(now time.Time) string {
	g.mu.Lock()
	us := now.UnixMicro()
	if us <= g.last {
		us = g.last + 1
	}
	g.last = us
	g.mu.Unlock()
	var b [2]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics instead)
	return fmt.Sprintf("%013x%03x", us&(1<<52-1), binary.BigEndian.Uint16(b[:])&0xfff)
}

// validID reports whether s has the form of a queue ID. Every path the
// package builds from an ID goes through it, so an ID from a command line
// cannot name a file outside the spool.
func validID(s string) bool {
	if len(s) != idLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
