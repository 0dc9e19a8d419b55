package queue

import (
	"testing"
	"time"
)

func TestNextAttempt(t *testing.T) {
	sched := []time.Duration{time.Minute, 5 * time.Minute, time.Hour}
	fixed := func(v float64) func() float64 { return func() float64 { return v } }
	tests := []struct {
		name     string
		attempts int
		schedule []time.Duration
		jitter   float64
		rnd      func() float64
		want     time.Duration
	}{
		{"first", 1, sched, 0, nil, time.Minute},
		{"second", 2, sched, 0, nil, 5 * time.Minute},
		{"third", 3, sched, 0, nil, time.Hour},
		{"last repeats", 9, sched, 0, nil, time.Hour},
		{"zero attempts count as one", 0, sched, 0, nil, time.Minute},
		{"negative attempts", -3, sched, 0, nil, time.Minute},
		{"default schedule", 2, nil, 0, nil, 5 * time.Minute},
		{"default schedule end", 50, nil, 0, nil, 4 * time.Hour},
		{"jitter low end", 2, sched, 0.1, fixed(0), 270 * time.Second},
		{"jitter middle", 2, sched, 0.1, fixed(0.5), 5 * time.Minute},
		{"jitter high end", 2, sched, 0.1, fixed(0.75), 315 * time.Second},
		{"jitter without source", 2, sched, 0.1, nil, 5 * time.Minute},
		{"jitter clamped to 1", 1, sched, 3, fixed(0), 0},
		{"negative jitter is none", 1, sched, -1, fixed(0), time.Minute},
		{"bad source value", 1, sched, 0.5, fixed(1.5), time.Minute},
		{"negative delay", 1, []time.Duration{-time.Second}, 0, nil, 0},
	}
	for _, tt := range tests {
		if got := NextAttempt(tt.attempts, tt.schedule, tt.jitter, tt.rnd); got != tt.want {
			t.Errorf("%s: NextAttempt(%d, …, %v) = %v, want %v", tt.name, tt.attempts, tt.jitter, got, tt.want)
		}
	}
}

// TestNextAttemptJitterRange: over many draws the waits stay inside
// [d(1-j), d(1+j)) and are not all equal.
func TestNextAttemptJitterRange(t *testing.T) {
	q := openTest(t, Options{})
	d := time.Minute
	lo, hi := time.Duration(float64(d)*0.8), time.Duration(float64(d)*1.2)
	seen := map[time.Duration]bool{}
	for range 1000 {
		got := NextAttempt(1, []time.Duration{d}, 0.2, q.opts.Rand)
		if got < lo || got >= hi {
			t.Fatalf("wait %v outside [%v, %v)", got, lo, hi)
		}
		seen[got] = true
	}
	if len(seen) < 100 {
		t.Errorf("only %d distinct waits in 1000 draws", len(seen))
	}
}
