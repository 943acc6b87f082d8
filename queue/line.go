package queue

import (
	"errors"
	"math"
	"time"
)

// ErrInvalidControl means a Control's rate, given to SetControl or in a
// Seed, is negative, NaN or infinite.
var ErrInvalidControl = errors.New("queue: invalid control: rate must be finite and not negative")

// fracEpsilon absorbs the rounding of repeated float additions, so that ten
// steps of 0.1 admissions admit one visitor rather than leave 0.9999999999.
// The Redis scripts use the same constant.
const fracEpsilon = 1e-9

// line is the state of one line, the reference implementation of what the
// Redis scripts do. It is not safe for concurrent use.
type line struct {
	epoch, serving, tail, prevEpoch, carried uint64
	// frac is the admission capacity accrued but not yet worth a visitor,
	// in [0, 1).
	frac float64
	// lastUS is the store time of the last settlement, in µs.
	lastUS  int64
	control Control
}

// newLine creates a line at store time nowUS from seed: empty under
// seed.Control if the caller never saw it, or else continuing seed.Last
// under a new epoch, carrying every number seed.Last issued.
func newLine(nowUS int64, seed Seed) line {
	l := line{epoch: uint64(nowUS), lastUS: nowUS, control: seed.Control}
	last := seed.Last
	if l.epoch <= last.Epoch {
		l.epoch = last.Epoch + 1
	}
	if last.Epoch != 0 {
		l.serving, l.tail = last.Serving, max(last.Tail, last.Serving)
		l.prevEpoch, l.carried = last.Epoch, l.tail
		l.control = last.Control
	}
	return l
}

// floor raises the counters to what the caller last saw of this same epoch.
// A Redis failover to a replica that lagged can roll a line back without
// losing it; the callers' caches remember further, so numbers they saw
// issued are not issued again. Counters of another epoch are no floor.
func (l *line) floor(seed Seed) {
	if last := seed.Last; last.Epoch == l.epoch {
		l.tail = max(l.tail, last.Tail)
		l.serving = max(l.serving, min(last.Serving, l.tail))
	}
}

// settle advances the serving counter for the store time elapsed since the
// last settlement, at the control in force during that time.
//
// A clock that went back (a failover to another Redis) settles nothing and
// leaves lastUS where it was, so the gap is not accrued twice.
func (l *line) settle(nowUS int64) {
	if el := nowUS - l.lastUS; el > 0 {
		if r := l.control.RatePerSecond; !l.control.Paused && r > 0 {
			acc := l.frac + r*float64(el)/1e6
			n := math.Floor(acc + fracEpsilon)
			if n >= float64(l.tail-l.serving) {
				l.serving = l.tail
			} else {
				l.serving += uint64(n)
				l.frac = max(acc-n, 0)
			}
		}
		l.lastUS = nowUS
	}
	if l.serving >= l.tail {
		// Capacity that finds the line empty is not banked.
		l.frac = 0
	}
}

// state returns the line as seen at store time nowUS.
func (l *line) state(nowUS int64) State {
	return State{
		Epoch:     l.epoch,
		Serving:   l.serving,
		Tail:      l.tail,
		PrevEpoch: l.prevEpoch,
		Carried:   l.carried,
		Control:   l.control,
		At:        time.UnixMicro(nowUS),
	}
}

// validCall checks what every store call takes, before the store is touched.
func validCall(event string, seed Seed) error {
	if !ValidEvent(event) {
		return ErrInvalidEvent
	}
	if err := validControl(seed.Control); err != nil {
		return err
	}
	return validControl(seed.Last.Control)
}

func validControl(c Control) error {
	if r := c.RatePerSecond; r < 0 || math.IsNaN(r) || math.IsInf(r, 0) {
		return ErrInvalidControl
	}
	return nil
}
