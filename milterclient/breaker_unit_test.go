package milterclient

import (
	"testing"
	"time"
)

func TestBreakerStates(t *testing.T) {
	t0 := time.Unix(1000, 0)
	b := newBreaker(BreakerOptions{Failures: 2, OpenFor: 10 * time.Second})
	step := func(what string, got, want bool) {
		t.Helper()
		if got != want {
			t.Fatalf("%s = %v, want %v", what, got, want)
		}
	}
	ok, probe := b.allow(t0)
	step("allow closed", ok && !probe, true)
	step("first failure opens", b.failure(t0, false), false)
	step("second failure opens", b.failure(t0, false), true)
	ok, _ = b.allow(t0.Add(9 * time.Second))
	step("allow while open", ok, false)
	ok, probe = b.allow(t0.Add(10 * time.Second))
	step("probe after OpenFor", ok && probe, true)
	ok, _ = b.allow(t0.Add(10 * time.Second))
	step("second session during probe", ok, false)
	step("failed probe reopens", b.failure(t0.Add(11*time.Second), true), true)
	ok, _ = b.allow(t0.Add(20 * time.Second))
	step("allow before the new interval ends", ok, false)
	ok, probe = b.allow(t0.Add(21 * time.Second))
	step("second probe", ok && probe, true)
	b.release(true)
	ok, probe = b.allow(t0.Add(21 * time.Second))
	step("probe again after release", ok && probe, true)
	step("successful probe recovers", b.success(true), true)
	step("closed after recovery", b.isOpen(), false)
	ok, probe = b.allow(t0.Add(21 * time.Second))
	step("allow after recovery", ok && !probe, true)
	step("count restarts", b.failure(t0, false), false)
}

func TestBreakerDisabled(t *testing.T) {
	b := newBreaker(BreakerOptions{Failures: -1, OpenFor: time.Second})
	for range 10 {
		if b.failure(time.Unix(0, 0), false) {
			t.Fatal("disabled breaker opened")
		}
	}
	if ok, _ := b.allow(time.Unix(0, 0)); !ok {
		t.Fatal("disabled breaker refused")
	}
}
