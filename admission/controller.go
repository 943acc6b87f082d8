package admission

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"
)

// Defaults of ControllerConfig.
const (
	// DefaultLatencyObjective is the p99 hold latency the seating core must
	// stay under.
	DefaultLatencyObjective = 250 * time.Millisecond
	// DefaultOriginLatencyObjective is the p99 latency of the origin, as the
	// proxy sees it, that must not be passed. It is looser than the hold
	// objective because origin requests include pages and seat maps.
	DefaultOriginLatencyObjective = time.Second
	// DefaultErrorObjective is the error rate, of holds and of origin
	// requests, that must not be passed.
	DefaultErrorObjective = 0.01
	// DefaultIncreaseShare is the additive increase per interval, as a share
	// of MaxRate: from 0 to MaxRate in 50 healthy intervals.
	DefaultIncreaseShare = 0.02
	// DefaultDecrease is the factor the rate is multiplied by on a breach.
	DefaultDecrease = 0.5
	// DefaultInterval is how often the controller decides.
	DefaultInterval = time.Second
	// DefaultInventoryFactor is how many fans may be admitted per seat
	// still to sell within an inventory horizon; above 1 because many fans
	// leave without buying.
	DefaultInventoryFactor = 1.5
	// DefaultInventoryHorizon is the time an admitted fan typically takes to
	// show up in the inventory as a hold.
	DefaultInventoryHorizon = time.Minute
)

// Defaults of ControllerConfig that are multiples of its Interval.
const (
	defaultCooldownIntervals        = 5
	defaultDecreaseSpacingIntervals = 3
	defaultStaleDecayIntervals      = 10
)

// ErrSoldOut is returned by Controller.Reset while the event is sold out.
var ErrSoldOut = errors.New("admission: event is sold out")

// ControllerConfig configures a Controller. Fields are named in errors as in
// configuration files. Zero fields mean their documented default, except
// MaxRate, which must be set.
type ControllerConfig struct {
	// MinRate is the organizer's minimum rate in visitors per second: the
	// controller never cuts below it for health reasons. Only the inventory
	// cap and sold out take the rate lower. Zero means no floor.
	MinRate float64
	// MaxRate is the organizer's maximum rate in visitors per second. It is
	// required, and at most MaxRatePerSecond.
	MaxRate float64
	// InitialRate is the rate before the first decision. Zero means MinRate;
	// otherwise it must lie in [MinRate, MaxRate].
	InitialRate float64

	// LatencyObjective is the p99 hold latency of the seating core that must
	// not be passed. Zero means DefaultLatencyObjective.
	LatencyObjective time.Duration
	// OriginLatencyObjective is the p99 origin latency seen by the proxy
	// that must not be passed. Zero means DefaultOriginLatencyObjective; a
	// negative value ignores origin latency.
	OriginLatencyObjective time.Duration
	// ErrorObjective is the error rate, in [0, 1], of holds and of origin
	// requests that must not be passed. Zero means DefaultErrorObjective.
	ErrorObjective float64

	// Increase is the additive step in visitors per second of a healthy
	// decision taken one Interval after the previous one; decisions closer
	// together raise in proportion. Zero means DefaultIncreaseShare of
	// MaxRate.
	Increase float64
	// Decrease is the factor, in (0, 1), the rate is multiplied by when an
	// objective is breached. Zero means DefaultDecrease.
	Decrease float64
	// Interval is how often the caller is expected to decide. Zero means
	// DefaultInterval.
	Interval time.Duration
	// Cooldown is how long after a decrease the rate is not raised. Zero
	// means 5 intervals; a negative value means none.
	Cooldown time.Duration
	// DecreaseSpacing is the least time between two decreases. Health
	// signals cover a window of several seconds (10 s for the seating
	// core), so one overload stays visible for several decisions after the
	// cut that answers it; cutting again at each would drive the rate to its
	// floor. Zero means 3 intervals; a negative value cuts at every breached
	// decision.
	DecreaseSpacing time.Duration
	// StaleDecayAfter is how long the seating signal may be stale before the
	// rate decays, one decrease per DecreaseSpacing, toward MinRate. An
	// unreachable seating core is often an overloaded one. Zero means 10
	// intervals; a negative value holds the rate for as long as it lasts.
	StaleDecayAfter time.Duration

	// InventoryFactor bounds admission by the seats still to sell: the rate
	// never exceeds InventoryFactor × (seats left + seats held) ÷
	// InventoryHorizon. Zero means DefaultInventoryFactor; a negative value
	// disables the cap.
	InventoryFactor float64
	// InventoryHorizon is the time over which InventoryFactor applies, about
	// how long an admitted fan takes to hold seats. Zero means
	// DefaultInventoryHorizon.
	InventoryHorizon time.Duration
	// SoldOutAfter is how long the seating core must report no seats left
	// and none held before the event is declared sold out. Zero means at
	// the first such report.
	SoldOutAfter time.Duration
}

// withDefaults returns c with every zero field set to its default. It is the
// only place defaults are filled in.
func (c ControllerConfig) withDefaults() ControllerConfig {
	if c.InitialRate == 0 {
		c.InitialRate = c.MinRate
	}
	if c.LatencyObjective == 0 {
		c.LatencyObjective = DefaultLatencyObjective
	}
	if c.OriginLatencyObjective == 0 {
		c.OriginLatencyObjective = DefaultOriginLatencyObjective
	}
	if c.ErrorObjective == 0 {
		c.ErrorObjective = DefaultErrorObjective
	}
	if c.Increase == 0 {
		c.Increase = DefaultIncreaseShare * c.MaxRate
	}
	if c.Decrease == 0 {
		c.Decrease = DefaultDecrease
	}
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	switch {
	case c.Cooldown == 0:
		c.Cooldown = defaultCooldownIntervals * c.Interval
	case c.Cooldown < 0:
		c.Cooldown = 0
	}
	switch {
	case c.DecreaseSpacing == 0:
		c.DecreaseSpacing = defaultDecreaseSpacingIntervals * c.Interval
	case c.DecreaseSpacing < 0:
		c.DecreaseSpacing = 0
	}
	if c.StaleDecayAfter == 0 {
		c.StaleDecayAfter = defaultStaleDecayIntervals * c.Interval
	}
	if c.InventoryFactor == 0 {
		c.InventoryFactor = DefaultInventoryFactor
	}
	if c.InventoryHorizon == 0 {
		c.InventoryHorizon = DefaultInventoryHorizon
	}
	return c
}

// Validate reports the first invalid field of c, named as in configuration
// files.
func (c ControllerConfig) Validate() error {
	if err := checkBounds(c.MinRate, c.MaxRate); err != nil {
		return err
	}
	switch {
	case !finite(c.InitialRate):
		return fmt.Errorf("admission: initial_rate is %v, want a finite number", c.InitialRate)
	case c.InitialRate != 0 && (c.InitialRate < c.MinRate || c.InitialRate > c.MaxRate):
		return fmt.Errorf("admission: initial_rate is %v, want between min_rate %v and max_rate %v", c.InitialRate, c.MinRate, c.MaxRate)
	case c.LatencyObjective < 0:
		return fmt.Errorf("admission: latency_objective is %v, want more than 0", c.LatencyObjective)
	case !finite(c.ErrorObjective) || c.ErrorObjective < 0 || c.ErrorObjective > 1:
		return fmt.Errorf("admission: error_objective is %v, want between 0 and 1", c.ErrorObjective)
	case !finite(c.Increase) || c.Increase < 0 || c.Increase > c.MaxRate:
		return fmt.Errorf("admission: increase is %v, want between 0 and max_rate %v", c.Increase, c.MaxRate)
	case !finite(c.Decrease) || c.Decrease < 0 || c.Decrease >= 1:
		return fmt.Errorf("admission: decrease is %v, want a factor in (0, 1)", c.Decrease)
	case c.Interval < 0:
		return fmt.Errorf("admission: interval is %v, want more than 0", c.Interval)
	case !finite(c.InventoryFactor):
		return fmt.Errorf("admission: inventory_factor is %v, want a finite number", c.InventoryFactor)
	case c.InventoryHorizon < 0:
		return fmt.Errorf("admission: inventory_horizon is %v, want more than 0", c.InventoryHorizon)
	case c.SoldOutAfter < 0:
		return fmt.Errorf("admission: sold_out_after is %v, want at least 0", c.SoldOutAfter)
	}
	return nil
}

// checkBounds reports whether min and max are valid organizer bounds.
func checkBounds(min, max float64) error {
	switch {
	case !finite(min) || min < 0:
		return fmt.Errorf("admission: min_rate is %v, want a finite number of at least 0", min)
	case !finite(max) || max <= 0 || max > MaxRatePerSecond:
		return fmt.Errorf("admission: max_rate is %v, want more than 0 and at most %v", max, float64(MaxRatePerSecond))
	case min > max:
		return fmt.Errorf("admission: min_rate %v is above max_rate %v", min, max)
	}
	return nil
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// Signal is what the controller observes at one decision: the seating core's
// health (ParseSeatingHealth), and what the proxy itself sees of the origin.
// It is a plain value.
type Signal struct {
	// At is the time of the decision. The controller never reads the clock.
	At time.Time
	// HoldLatencyP99 and HoldErrorRate are the seating core's p99 hold
	// latency and the share, in [0, 1], of holds that failed.
	HoldLatencyP99 time.Duration
	HoldErrorRate  float64
	// OriginLatencyP99 and OriginErrorRate are the p99 latency and the
	// share, in [0, 1], of failed requests (5xx, timeouts, refused
	// connections) the proxy observed at the event's origin. Zero values
	// mean nothing was observed, which is no breach.
	OriginLatencyP99 time.Duration
	OriginErrorRate  float64
	// SeatsLeft and SeatsHeld are the event's seats still free and held
	// (not yet sold). They count only when InventoryKnown is set.
	SeatsLeft, SeatsHeld int
	// InventoryKnown says SeatsLeft and SeatsHeld are meaningful.
	InventoryKnown bool
	// Stale says the seating part of the signal (hold latency, hold errors,
	// inventory) is not current: the health document could not be fetched,
	// or is too old. The origin part still counts.
	Stale bool
}

// seatingValid reports whether the seating part of s is current and sane.
func (s Signal) seatingValid() bool {
	return !s.Stale && s.HoldLatencyP99 >= 0 && validShare(s.HoldErrorRate)
}

// originValid reports whether the origin part of s is sane.
func (s Signal) originValid() bool {
	return s.OriginLatencyP99 >= 0 && validShare(s.OriginErrorRate)
}

func validShare(f float64) bool { return f >= 0 && f <= 1 } // false for NaN

// Action is the kind of a Decision, fit for a metric label.
type Action string

// The actions of a Decision.
const (
	// ActionIncrease raised the rate: every objective was met.
	ActionIncrease Action = "increase"
	// ActionDecrease cut the rate: an objective was breached, or the seating
	// signal was stale for too long.
	ActionDecrease Action = "decrease"
	// ActionHold kept the rate: cooldown, stale signal, at the maximum, or a
	// breach too soon after a decrease.
	ActionHold Action = "hold"
	// ActionCap lowered the rate to what the inventory can absorb.
	ActionCap Action = "cap"
	// ActionSoldOut set the rate to 0: the event is sold out.
	ActionSoldOut Action = "sold_out"
)

// Decision is the outcome of one Controller.Decide: the new rate and why.
type Decision struct {
	// At is the time of the signal decided on.
	At time.Time
	// Rate is the rate in force from At, in visitors per second, and
	// Previous the rate before.
	Rate, Previous float64
	// Action is the kind of decision, for metrics.
	Action Action
	// Reason explains the decision in a line fit for logs, such as
	// "decrease: hold p99 412ms > 250ms" or "hold: cooldown".
	Reason string
	// SoldOut says the event is sold out: Rate is 0 until Reopen.
	SoldOut bool
	// Signal is the signal decided on.
	Signal Signal
}

// Controller is an adaptive admission rate for one event, following the
// seating core's health, the origin's, and the seats still to sell; the
// package documentation describes the control law. Create it with
// NewController; the zero value is not ready for use. It is safe for
// concurrent use.
type Controller struct {
	// mu guards every field below.
	mu  sync.Mutex
	cfg ControllerConfig
	// rate is the rate in force; 0 once sold out.
	rate float64
	// soldOut is latched until Reopen.
	soldOut bool
	// last is the time of the latest decision, valid when decided is set;
	// signal times before it are taken as it, so time never runs back.
	last    time.Time
	decided bool
	// cutAt is the time of the latest decrease, valid when cut is set.
	cutAt time.Time
	cut   bool
	// staleSince is when the seating signal became stale, zero while it is
	// current. emptySince is when the inventory was first seen at 0 left
	// and 0 held, zero otherwise.
	staleSince, emptySince time.Time
}

// NewController returns a controller for cfg, at cfg's initial rate.
func NewController(cfg ControllerConfig) (*Controller, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	return &Controller{cfg: cfg, rate: cfg.InitialRate}, nil
}

// Rate returns the rate in force, in visitors per second.
func (c *Controller) Rate() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rate
}

// SoldOut reports whether the event has been declared sold out.
func (c *Controller) SoldOut() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.soldOut
}

// Bounds returns the organizer's minimum and maximum rates in force.
func (c *Controller) Bounds() (min, max float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cfg.MinRate, c.cfg.MaxRate
}

// SetBounds replaces the minimum and maximum rates, for an SRE in the middle
// of a sale, and moves the rate into them. Equal bounds fix the rate. The
// inventory cap and sold out still apply, from the next decision. The
// additive Increase is kept as it was.
func (c *Controller) SetBounds(min, max float64) error {
	if err := checkBounds(min, max); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cfg.MinRate, c.cfg.MaxRate = min, max
	if !c.soldOut {
		c.rate = math.Min(math.Max(c.rate, min), max)
	}
	return nil
}

// Reset sets the rate, within the bounds, and forgets the latest decrease,
// so that the controller goes on from there at the next decision. To pin a
// rate, use SetBounds with equal bounds. It returns ErrSoldOut while the
// event is sold out.
func (c *Controller) Reset(rate float64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !finite(rate) || rate < c.cfg.MinRate || rate > c.cfg.MaxRate {
		return fmt.Errorf("admission: rate %v is outside [%v, %v]", rate, c.cfg.MinRate, c.cfg.MaxRate)
	}
	if c.soldOut {
		return ErrSoldOut
	}
	c.rate, c.cut = rate, false
	return nil
}

// Reopen clears a sold-out state, for an SRE who knows seats came back, and
// starts again from the minimum rate. A later signal of no seats left and
// none held declares the event sold out again.
func (c *Controller) Reopen() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.soldOut {
		return
	}
	c.soldOut, c.cut = false, false
	c.emptySince = time.Time{}
	c.rate = c.cfg.MinRate
}

// Decide takes one decision on s and returns it; the new rate is in force
// at once. Callers decide every Interval with the latest signal, marking it
// Stale when the seating health could not be had.
func (c *Controller) Decide(s Signal) Decision {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := s.At
	elapsed := c.cfg.Interval // the first decision takes a whole step
	if c.decided {
		if now.Before(c.last) {
			now = c.last
		}
		elapsed = now.Sub(c.last)
	}
	c.last, c.decided = now, true

	d := Decision{At: s.At, Previous: c.rate, Signal: s}
	if c.soldOut {
		return c.settle(d, 0, ActionSoldOut, "sold out")
	}

	seatingOK := s.seatingValid()
	inventoryOK := seatingOK && s.InventoryKnown && s.SeatsLeft >= 0 && s.SeatsHeld >= 0
	if seatingOK {
		c.staleSince = time.Time{}
	} else if c.staleSince.IsZero() {
		c.staleSince = now
	}
	if inventoryOK && s.SeatsLeft == 0 && s.SeatsHeld == 0 {
		if c.emptySince.IsZero() {
			c.emptySince = now
		}
		if now.Sub(c.emptySince) >= c.cfg.SoldOutAfter {
			c.soldOut = true
			return c.settle(d, 0, ActionSoldOut, "sold out")
		}
	} else {
		c.emptySince = time.Time{}
	}

	rate, action, reason := c.rate, ActionHold, ""
	canCut := !c.cut || now.Sub(c.cutAt) >= c.cfg.DecreaseSpacing
	// Cutting never raises a rate the inventory took below the minimum.
	cutRate := math.Max(rate*c.cfg.Decrease, math.Min(c.cfg.MinRate, rate))
	breach := c.breaches(s, seatingOK)
	switch {
	case breach != "" && canCut:
		rate, action, reason = cutRate, ActionDecrease, "decrease: "+breach
		c.cut, c.cutAt = true, now
	case breach != "":
		reason = "hold: decreased " + now.Sub(c.cutAt).String() + " ago; " + breach
	case !seatingOK && c.cfg.StaleDecayAfter >= 0 && now.Sub(c.staleSince) >= c.cfg.StaleDecayAfter && canCut && rate > c.cfg.MinRate:
		rate, action = cutRate, ActionDecrease
		reason = "decrease: signal stale for " + now.Sub(c.staleSince).String()
		c.cut, c.cutAt = true, now
	case !seatingOK:
		reason = "hold: signal stale"
	case !s.originValid():
		reason = "hold: origin signal invalid"
	case c.cut && now.Sub(c.cutAt) < c.cfg.Cooldown:
		reason = "hold: cooldown"
	case rate >= c.cfg.MaxRate:
		rate, reason = c.cfg.MaxRate, "hold: at max_rate"
	case elapsed <= 0:
		reason = "hold: no time since the last decision"
	default:
		step := c.cfg.Increase * math.Min(float64(elapsed)/float64(c.cfg.Interval), 1)
		rate = math.Min(rate+step, c.cfg.MaxRate)
		action, reason = ActionIncrease, "increase: within objectives"
	}

	if inventoryOK && c.cfg.InventoryFactor > 0 {
		seats := s.SeatsLeft + s.SeatsHeld
		if limit := c.cfg.InventoryFactor * float64(seats) / c.cfg.InventoryHorizon.Seconds(); rate > limit {
			capReason := fmt.Sprintf("cap: inventory (%d left + %d held) allows %.4g/s", s.SeatsLeft, s.SeatsHeld, limit)
			if action == ActionDecrease {
				capReason += "; " + reason
			}
			rate, action, reason = limit, ActionCap, capReason
		}
	}
	return c.settle(d, rate, action, reason)
}

// settle puts rate in force and completes d. c.mu must be held.
func (c *Controller) settle(d Decision, rate float64, action Action, reason string) Decision {
	c.rate = rate
	d.Rate, d.Action, d.Reason, d.SoldOut = rate, action, reason, c.soldOut
	return d
}

// breaches lists the objectives s breaches, or returns "" when it breaches
// none. The seating part counts only when seatingOK; an insane origin part
// is not evidence of a breach.
func (c *Controller) breaches(s Signal, seatingOK bool) string {
	var b []string
	if seatingOK {
		if s.HoldLatencyP99 > c.cfg.LatencyObjective {
			b = append(b, "hold p99 "+ms(s.HoldLatencyP99)+" > "+ms(c.cfg.LatencyObjective))
		}
		if s.HoldErrorRate > c.cfg.ErrorObjective {
			b = append(b, "hold errors "+pct(s.HoldErrorRate)+" > "+pct(c.cfg.ErrorObjective))
		}
	}
	if s.originValid() {
		if c.cfg.OriginLatencyObjective > 0 && s.OriginLatencyP99 > c.cfg.OriginLatencyObjective {
			b = append(b, "origin p99 "+ms(s.OriginLatencyP99)+" > "+ms(c.cfg.OriginLatencyObjective))
		}
		if s.OriginErrorRate > c.cfg.ErrorObjective {
			b = append(b, "origin errors "+pct(s.OriginErrorRate)+" > "+pct(c.cfg.ErrorObjective))
		}
	}
	return strings.Join(b, ", ")
}

// ms formats a latency to a tenth of a millisecond.
func ms(d time.Duration) string { return d.Round(100 * time.Microsecond).String() }

// pct formats a share as a percentage.
func pct(f float64) string { return fmt.Sprintf("%.3g%%", 100*f) }
