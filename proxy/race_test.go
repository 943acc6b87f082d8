//go:build race

package proxy

// raceEnabled reports that the race detector is on: sync.Pool then drops
// items at random, so allocation counts mean nothing.
const raceEnabled = true
