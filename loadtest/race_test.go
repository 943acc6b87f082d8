//go:build race

package loadtest

// raceEnabled reports that the race detector is on: it slows every request
// several times, so the large runs are scaled down.
const raceEnabled = true
