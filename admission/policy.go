package admission

import (
	"fmt"
	"math"
	"time"
)

// MaxRatePerSecond bounds Policy.RatePerSecond.
const MaxRatePerSecond = 1e6

// Policy is an event's admission setting: how many visitors per second are
// let through, and whether admission is paused. It changes live while a sale
// runs; the proxy keeps the value in force in the queue store so that every
// proxy applies the same one.
//
// The zero value is a valid policy that admits nobody. A Policy is a plain
// value and safe to copy.
type Policy struct {
	// RatePerSecond is how many visitors are admitted per second. It must be
	// finite and between 0 and MaxRatePerSecond; fractions are allowed.
	RatePerSecond float64
	// Paused stops admission without losing the rate.
	Paused bool
}

// Validate reports whether p can be put in force, naming the field as in
// the admin API.
func (p Policy) Validate() error {
	r := p.RatePerSecond
	switch {
	case math.IsNaN(r) || math.IsInf(r, 0):
		return fmt.Errorf("admission: rate_per_second is %v, want a finite number", r)
	case r < 0:
		return fmt.Errorf("admission: rate_per_second is %v, want at least 0", r)
	case r > MaxRatePerSecond:
		return fmt.Errorf("admission: rate_per_second is %v, want at most %v", r, MaxRatePerSecond)
	}
	return nil
}

// Effective returns the rate at which visitors are admitted under p: 0 when
// paused or when p is not valid, RatePerSecond otherwise.
func (p Policy) Effective() float64 {
	// The negated comparison is false for NaN too.
	if p.Paused || !(p.RatePerSecond > 0 && p.RatePerSecond <= MaxRatePerSecond) {
		return 0
	}
	return p.RatePerSecond
}

// Wait estimates how long a visitor with ahead visitors in front of them
// waits for their turn under p, assuming the rate holds: ahead divided by the
// effective rate. The estimate is unknown (known is false) when nobody is
// being admitted, since the wait is then not bounded, and when it does not
// fit in a time.Duration (about 292 years).
func (p Policy) Wait(ahead uint64) (d time.Duration, known bool) {
	r := p.Effective()
	if r == 0 {
		return 0, false
	}
	ns := float64(ahead) / r * float64(time.Second)
	if ns >= math.MaxInt64 {
		return 0, false
	}
	return time.Duration(ns), true
}
