//go:build race

package test

// svRace is true when the tests run with the race detector: sluice serve
// is then built with it too, and a race it finds fails the test.
const svRace = true
