//go:build !race

package test

// svRace is true when the tests run with the race detector (see
// serve_race_test.go).
const svRace = false
