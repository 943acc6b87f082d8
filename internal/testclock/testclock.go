// Package testclock is a clock that tests move by hand, for code that takes
// its time from an injected func() time.Time (the memory stores, the
// proxy's schedule, the seating caches).
package testclock

import (
	"sync"
	"time"
)

// Clock is a settable clock. It is safe for concurrent use; its zero value
// reads the zero time.
type Clock struct {
	mu sync.Mutex // guards t
	t  time.Time
}

// New returns a clock reading t.
func New(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time; pass it as the injected clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Add moves the clock by d.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Set sets the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}
