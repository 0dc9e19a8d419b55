package ratelimit

import (
	"slices"
	"testing"
	"time"
)

// model is the table as a plain LRU list with GCRA buckets, the reference
// FuzzTable compares the real one with.
type model struct {
	max  int
	ents []entry // most recently used first
}

func (m *model) take(k clientKey, kd kind, r rate, now int64) bool {
	i := slices.IndexFunc(m.ents, func(e entry) bool { return e.key == k })
	e := entry{key: k, tat: [numKinds]int64{never, never, never}}
	if i >= 0 {
		e = m.ents[i]
		m.ents = slices.Delete(m.ents, i, i+1)
	} else if len(m.ents) == m.max {
		m.ents = m.ents[:len(m.ents)-1]
	}
	tat := max(e.tat[kd], now)
	ok := tat-now <= r.tolerance
	if ok {
		e.tat[kd] = tat + r.interval
	}
	m.ents = slices.Insert(m.ents, 0, e)
	return ok
}

// FuzzTable plays a sequence of events (client, limit, time step) on a
// one-shard table and on the model: every decision, and the bound, must
// agree.
func FuzzTable(f *testing.F) {
	f.Add([]byte{3, 0x01, 0, 0x01, 0, 0x01, 0, 0x02, 5, 0x01, 0})
	f.Add([]byte{1, 0x00, 0, 0x10, 0, 0x20, 0, 0x00, 0, 0x01, 9, 0x00, 0})
	f.Add([]byte{7, 0x05, 1, 0x06, 1, 0x07, 1, 0x08, 1, 0x05, 30, 0x15, 0, 0x25, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		max := 1 + int(data[0]%8)
		tb := newTable(max)
		if len(tb.shards) != 1 {
			t.Fatalf("%d shards for %d clients", len(tb.shards), max)
		}
		m := &model{max: max}
		rates := [numKinds]rate{newRate(2, 10*time.Second), newRate(1, time.Second), newRate(3, time.Minute)}
		var now int64
		for i := 1; i+1 < len(data) && i < 2001; i += 2 {
			var k clientKey
			k[15] = data[i] & 0x0f
			kd := kind(data[i]>>4) % numKinds
			now += int64(data[i+1]) * int64(time.Second) / 4
			got, want := tb.take(k, kd, rates[kd], now), m.take(k, kd, rates[kd], now)
			if got != want {
				t.Fatalf("event %d (client %d, kind %d, t=%v): table %t, model %t", i/2, k[15], kd, time.Duration(now), got, want)
			}
			if n := tb.len(); n != len(m.ents) || n > max {
				t.Fatalf("event %d: table tracks %d, model %d, max %d", i/2, n, len(m.ents), max)
			}
		}
	})
}
