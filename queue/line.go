package queue

import (
	"cmp"
	"errors"
	"math"
	"slices"
	"time"
)

// ErrInvalidControl means a Control's rate, given to SetControl or in a
// Seed, is negative, NaN or infinite.
var ErrInvalidControl = errors.New("queue: invalid control: rate must be finite and not negative, max active and durations not negative")

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
	// preUS is the sale start (store time, µs) of a line that awaits the
	// draw of its pre-queue, or 0: the serving counter stands still until
	// the draw.
	preUS int64
	// abandoned counts the turns abandoned in this epoch.
	abandoned uint64
	// laneW are the reduced lane weights (nil: one lane) and laneLast the
	// last number issued in each lane.
	laneW    []int
	laneLast []uint64
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
	if !seed.PrequeueClosesAt.IsZero() && (last.Epoch == 0 || last.Prequeue) {
		// A line lost before its draw gets a pre-queue again: its members
		// join it again with their pre-queue tickets.
		l.preUS = max(seed.PrequeueClosesAt.UnixMicro(), 1)
	}
	switch {
	case last.Epoch != 0 && last.Lanes != nil:
		l.laneW, l.laneLast = last.Lanes.Weights, slices.Clone(last.Lanes.Last)
	case last.Epoch == 0 && l.preUS == 0 && len(seed.Lanes) > 0:
		l.laneW, _ = ReduceLaneWeights(seed.Lanes) // validCall checked them
		l.laneLast = make([]uint64, len(l.laneW))
	}
	return l
}

// lanes returns the line's lanes as they stand (sharing laneLast: use it
// before the line changes), or nil.
func (l *line) lanes() *Lanes {
	if l.laneW == nil {
		return nil
	}
	return newLanes(l.laneW, l.laneLast)
}

// take issues the next number of lane (0 without lanes) and returns it.
func (l *line) take(lane int) (uint64, error) {
	if l.laneW == nil {
		if lane != 0 {
			return 0, ErrInvalidLanes
		}
		l.tail++
		return l.tail, nil
	}
	if lane < 0 || lane >= len(l.laneW) {
		return 0, ErrInvalidLanes
	}
	seq := l.lanes().next(lane, l.serving)
	l.laneLast[lane] = seq
	l.tail = max(l.tail, seq)
	return seq, nil
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

// noCap is the budget of a line without an active-session cap.
const noCap = math.MaxUint64

// settle advances the serving counter for the store time elapsed since the
// last settlement, at the control in force during that time, granting at
// most budget turns (the free slots under Control.MaxActive, or noCap). It
// returns the serving counter before and after.
//
// A clock that went back (a failover to another Redis) settles nothing and
// leaves lastUS where it was, so the gap is not accrued twice.
func (l *line) settle(nowUS int64, budget uint64) (from, to uint64) {
	from = l.serving
	if el := nowUS - l.lastUS; el > 0 {
		c := l.control
		if r := c.RatePerSecond; l.preUS == 0 && !c.Paused && !c.SoldOut && r > 0 && l.tail > l.serving {
			acc := l.frac + r*float64(el)/1e6
			n := math.Floor(acc + fracEpsilon)
			lanes := l.lanes()
			waiting := l.tail - l.serving
			if lanes != nil {
				waiting = lanes.Filled(l.serving, l.tail)
			}
			var grant uint64
			switch {
			case budget < waiting && n >= float64(budget):
				// The cap binds: capacity beyond the free slots is
				// dropped, so slots freed later refill at the rate
				// rather than in a burst.
				grant = budget
				l.frac = 0
			case n >= float64(waiting):
				grant = waiting
			default:
				grant = uint64(n)
				l.frac = max(acc-n, 0)
			}
			switch {
			case grant == waiting:
				l.serving = l.tail
			case grant > 0 && lanes != nil:
				l.serving = lanes.advance(l.serving, l.tail, grant)
			default:
				l.serving += grant
			}
		}
		l.lastUS = nowUS
	}
	if l.serving >= l.tail {
		// Capacity that finds the line empty is not banked.
		l.frac = 0
	}
	return from, l.serving
}

// state returns the line as seen at store time nowUS.
func (l *line) state(nowUS int64) State {
	st := State{
		Epoch:     l.epoch,
		Serving:   l.serving,
		Tail:      l.tail,
		PrevEpoch: l.prevEpoch,
		Carried:   l.carried,
		Control:   l.control,
		Abandoned: l.abandoned,
		Prequeue:  l.preUS != 0,
		At:        time.UnixMicro(nowUS),
	}
	if l.laneW != nil {
		st.Lanes = newLanes(l.laneW, slices.Clone(l.laneLast))
	}
	return st
}

// validCall checks what every store call takes, before the store is touched.
func validCall(event string, seed Seed) error {
	if !ValidEvent(event) {
		return ErrInvalidEvent
	}
	if err := validControl(seed.Control); err != nil {
		return err
	}
	if len(seed.Lanes) > 0 {
		if _, err := ReduceLaneWeights(seed.Lanes); err != nil {
			return err
		}
	}
	if seed.Lane < 0 || (seed.Lane > 0 && seed.Lane >= len(seed.Lanes)) {
		return ErrInvalidLanes
	}
	return validControl(seed.Last.Control)
}

func validControl(c Control) error {
	if r := c.RatePerSecond; r < 0 || math.IsNaN(r) || math.IsInf(r, 0) {
		return ErrInvalidControl
	}
	if c.MaxActive < 0 || c.SessionTTL < 0 || c.ClaimWindow < 0 {
		return ErrInvalidControl
	}
	return nil
}

// defaultWindow is the session TTL and claim window of a Control that
// leaves them zero.
const defaultWindow = time.Minute

// sessionTTL and claimWindow return c's durations with their defaults.
func (c Control) sessionTTL() time.Duration  { return cmp.Or(c.SessionTTL, defaultWindow) }
func (c Control) claimWindow() time.Duration { return cmp.Or(c.ClaimWindow, defaultWindow) }
