package queue

import "time"

// defaultRetry is the retry schedule when Options.Retry is empty (the
// [queue] retry default of DESIGN.md).
var defaultRetry = []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute, time.Hour, 4 * time.Hour}

// NextAttempt returns how long to wait after a failed delivery attempt
// before the next one. attempts is the number of attempts made so far
// (1 after the first); the wait is schedule[attempts-1], and the last
// entry repeats once the schedule is exhausted. An empty schedule means
// the default (1m, 5m, 15m, 1h, 4h); attempts below 1 count as 1.
//
// jitter spreads retries so that messages deferred together do not come
// back together: the wait is scaled by a factor drawn uniformly from
// [1-jitter, 1+jitter) using rnd, which returns values in [0, 1). jitter
// is clamped to [0, 1]; with jitter 0 (or rnd nil) the wait is exact.
func NextAttempt(attempts int, schedule []time.Duration, jitter float64, rnd func() float64) time.Duration {
	if len(schedule) == 0 {
		schedule = defaultRetry
	}
	i := attempts - 1
	if i < 0 {
		i = 0
	}
	if i >= len(schedule) {
		i = len(schedule) - 1
	}
	d := schedule[i]
	if d < 0 {
		d = 0
	}
	if jitter <= 0 || rnd == nil {
		return d
	}
	if jitter > 1 {
		jitter = 1
	}
	r := rnd()
	if r < 0 || r >= 1 {
		r = 0.5 // a broken source: no jitter rather than a wild value
	}
	factor := 1 + jitter*(2*r-1)
	return time.Duration(float64(d) * factor)
}
