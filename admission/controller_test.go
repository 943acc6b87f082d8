package admission

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)

// at is the time of decision i, one second apart.
func at(i int) time.Time { return t0.Add(time.Duration(i) * time.Second) }

// healthy is a signal within every objective, with plenty of seats.
func healthy(i int) Signal {
	return Signal{At: at(i), HoldLatencyP99: 20 * time.Millisecond, HoldErrorRate: 0.001,
		OriginLatencyP99: 80 * time.Millisecond, SeatsLeft: 50_000, SeatsHeld: 1_000, InventoryKnown: true}
}

// slow is healthy but with a hold p99 past the default objective.
func slow(i int) Signal {
	s := healthy(i)
	s.HoldLatencyP99 = 412 * time.Millisecond
	return s
}

// base is the configuration most tests start from.
func base() ControllerConfig {
	return ControllerConfig{MinRate: 10, MaxRate: 200, InitialRate: 100, Increase: 10}
}

func newController(t testing.TB, cfg ControllerConfig) *Controller {
	t.Helper()
	c, err := NewController(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestControllerConfigValidate(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	tests := []struct {
		name  string
		edit  func(*ControllerConfig)
		field string // "" when valid
	}{
		{"base", func(*ControllerConfig) {}, ""},
		{"only max", func(c *ControllerConfig) { *c = ControllerConfig{MaxRate: 1} }, ""},
		{"fixed rate", func(c *ControllerConfig) { c.MinRate, c.MaxRate, c.InitialRate = 50, 50, 50 }, ""},
		{"negative switches", func(c *ControllerConfig) {
			c.Cooldown, c.DecreaseSpacing, c.StaleDecayAfter, c.InventoryFactor, c.OriginLatencyObjective = -1, -1, -1, -1, -1
		}, ""},
		{"zero", func(c *ControllerConfig) { *c = ControllerConfig{} }, "max_rate"},
		{"max NaN", func(c *ControllerConfig) { c.MaxRate = nan }, "max_rate"},
		{"max too high", func(c *ControllerConfig) { c.MaxRate = MaxRatePerSecond * 2 }, "max_rate"},
		{"min negative", func(c *ControllerConfig) { c.MinRate = -1 }, "min_rate"},
		{"min infinite", func(c *ControllerConfig) { c.MinRate = inf }, "min_rate"},
		{"min above max", func(c *ControllerConfig) { c.MinRate = 300 }, "min_rate"},
		{"initial below min", func(c *ControllerConfig) { c.InitialRate = 5 }, "initial_rate"},
		{"initial above max", func(c *ControllerConfig) { c.InitialRate = 201 }, "initial_rate"},
		{"initial NaN", func(c *ControllerConfig) { c.InitialRate = nan }, "initial_rate"},
		{"latency negative", func(c *ControllerConfig) { c.LatencyObjective = -time.Millisecond }, "latency_objective"},
		{"errors above 1", func(c *ControllerConfig) { c.ErrorObjective = 1.5 }, "error_objective"},
		{"errors NaN", func(c *ControllerConfig) { c.ErrorObjective = nan }, "error_objective"},
		{"increase negative", func(c *ControllerConfig) { c.Increase = -1 }, "increase"},
		{"increase above max", func(c *ControllerConfig) { c.Increase = 201 }, "increase"},
		{"decrease 1", func(c *ControllerConfig) { c.Decrease = 1 }, "decrease"},
		{"decrease negative", func(c *ControllerConfig) { c.Decrease = -0.5 }, "decrease"},
		{"interval negative", func(c *ControllerConfig) { c.Interval = -time.Second }, "interval"},
		{"inventory factor infinite", func(c *ControllerConfig) { c.InventoryFactor = inf }, "inventory_factor"},
		{"inventory horizon negative", func(c *ControllerConfig) { c.InventoryHorizon = -time.Second }, "inventory_horizon"},
		{"sold out after negative", func(c *ControllerConfig) { c.SoldOutAfter = -time.Second }, "sold_out_after"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base()
			tt.edit(&cfg)
			err := cfg.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				if _, err := NewController(cfg); err != nil {
					t.Fatalf("NewController: got %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), "admission: "+tt.field+" ") {
				t.Fatalf("got %v, want an error naming %s", err, tt.field)
			}
			if _, err2 := NewController(cfg); err2 == nil || err2.Error() != err.Error() {
				t.Errorf("NewController: got %v, want %v", err2, err)
			}
		})
	}
}

func TestControllerDefaults(t *testing.T) {
	got := ControllerConfig{MinRate: 5, MaxRate: 500}.withDefaults()
	want := ControllerConfig{
		MinRate: 5, MaxRate: 500, InitialRate: 5,
		LatencyObjective: 250 * time.Millisecond, OriginLatencyObjective: time.Second, ErrorObjective: 0.01,
		Increase: 10, Decrease: 0.5, Interval: time.Second,
		Cooldown: 5 * time.Second, DecreaseSpacing: 3 * time.Second, StaleDecayAfter: 10 * time.Second,
		InventoryFactor: 1.5, InventoryHorizon: time.Minute,
	}
	if got != want {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	got = ControllerConfig{MaxRate: 1, Interval: 2 * time.Second, Cooldown: -1, DecreaseSpacing: -1}.withDefaults()
	if got.Cooldown != 0 || got.DecreaseSpacing != 0 || got.StaleDecayAfter != 20*time.Second {
		t.Errorf("got cooldown %v, spacing %v, stale decay %v, want 0, 0, 20s", got.Cooldown, got.DecreaseSpacing, got.StaleDecayAfter)
	}
}

func TestDecideRaisesWhileHealthy(t *testing.T) {
	c := newController(t, base())
	for i := range 12 {
		d := c.Decide(healthy(i))
		want, action, reason := min(100+10*float64(i+1), 200), ActionIncrease, "increase: within objectives"
		if i >= 10 {
			action, reason = ActionHold, "hold: at max_rate"
		}
		if d.Rate != want || d.Action != action || d.Reason != reason || d.Previous != min(100+10*float64(i), 200) {
			t.Fatalf("decision %d: got %v %q (%v, from %v), want %v %q (%v)", i, d.Rate, d.Reason, d.Action, d.Previous, want, reason, action)
		}
		if got := c.Rate(); got != d.Rate {
			t.Fatalf("decision %d: Rate() is %v, want %v", i, got, d.Rate)
		}
	}
}

func TestDecideCutsOnBreach(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(*Signal)
		rate   float64
		reason string
	}{
		{"hold p99", func(s *Signal) { s.HoldLatencyP99 = 412 * time.Millisecond }, 50, "decrease: hold p99 412ms > 250ms"},
		{"hold p99 at the objective", func(s *Signal) { s.HoldLatencyP99 = 250 * time.Millisecond }, 110, "increase: within objectives"},
		{"hold errors", func(s *Signal) { s.HoldErrorRate = 0.032 }, 50, "decrease: hold errors 3.2% > 1%"},
		{"origin p99", func(s *Signal) { s.OriginLatencyP99 = 1500 * time.Millisecond }, 50, "decrease: origin p99 1.5s > 1s"},
		{"origin errors", func(s *Signal) { s.OriginErrorRate = 0.05 }, 50, "decrease: origin errors 5% > 1%"},
		{"everything", func(s *Signal) {
			s.HoldLatencyP99, s.HoldErrorRate, s.OriginLatencyP99, s.OriginErrorRate = time.Second, 0.5, 2*time.Second, 1
		}, 50, "decrease: hold p99 1s > 250ms, hold errors 50% > 1%, origin p99 2s > 1s, origin errors 100% > 1%"},
		{"origin breach while seating is stale", func(s *Signal) { s.Stale, s.OriginErrorRate = true, 0.2 }, 50, "decrease: origin errors 20% > 1%"},
		{"hold breach of a stale signal is ignored", func(s *Signal) { s.Stale, s.HoldLatencyP99 = true, time.Second }, 100, "hold: signal stale"},
		{"insane origin is no evidence", func(s *Signal) { s.OriginErrorRate = math.NaN() }, 100, "hold: origin signal invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newController(t, base())
			s := healthy(0)
			tt.edit(&s)
			d := c.Decide(s)
			if d.Rate != tt.rate || d.Reason != tt.reason {
				t.Errorf("got %v %q, want %v %q", d.Rate, d.Reason, tt.rate, tt.reason)
			}
		})
	}
}

func TestDecideNeverCutsBelowMin(t *testing.T) {
	cfg := base()
	cfg.DecreaseSpacing = -1
	c := newController(t, cfg)
	want := []float64{50, 25, 12.5, 10, 10}
	for i, w := range want {
		if d := c.Decide(slow(i)); d.Rate != w || d.Action != ActionDecrease {
			t.Fatalf("decision %d: got %v (%v), want %v (decrease)", i, d.Rate, d.Action, w)
		}
	}
}

// TestHoldLatencyDegradesHalfway is the controller test of issue 5: the
// seating core's hold latency degrades past its objective halfway through,
// the rate falls within 5 s and recovers after. Decisions are 1 s apart.
func TestHoldLatencyDegradesHalfway(t *testing.T) {
	const (
		seconds        = 120
		degradeFrom    = 40
		degradeUntil   = 60 // healthy again from here
		fallWithin     = 5  // decisions
		recoverWithin  = 40 // seconds after degradeUntil
		maxRate        = 200.0
		recoveredShare = 0.7
	)
	// capacity is what the core sustains; past it, holds queue and the p99
	// passes the objective.
	tests := []struct {
		name     string
		capacity func(i int) float64
	}{
		{"latency degrades whatever the rate", func(i int) float64 {
			if i >= degradeFrom && i < degradeUntil {
				return 0
			}
			return math.Inf(1)
		}},
		{"capacity drops to 60/s", func(i int) float64 {
			if i >= degradeFrom && i < degradeUntil {
				return 60
			}
			return 150
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newController(t, ControllerConfig{MinRate: 5, MaxRate: maxRate, InitialRate: 20, Increase: 10})
			rates := make([]float64, seconds)
			for i := range seconds {
				s := healthy(i)
				if c.Rate() > tt.capacity(i) {
					s.HoldLatencyP99 = 400 * time.Millisecond
				}
				d := c.Decide(s)
				rates[i] = d.Rate
				if d.Rate < 5 || d.Rate > maxRate {
					t.Fatalf("second %d: rate %v outside [5, %v]", i, d.Rate, maxRate)
				}
			}
			// The rate in force before, at the top of its sawtooth.
			before := 0.0
			for _, r := range rates[degradeFrom-10 : degradeFrom] {
				before = max(before, r)
			}
			if before < 100 {
				t.Fatalf("got at most %v/s before the degradation, want the rate to have risen to at least 100/s", before)
			}
			fell := false
			for i := degradeFrom; i < degradeFrom+fallWithin; i++ {
				fell = fell || rates[i] <= before/2
			}
			if !fell {
				t.Errorf("got rates %v in the %d decisions after the degradation, want one at most %v", rates[degradeFrom:degradeFrom+fallWithin], fallWithin, before/2)
			}
			if limit := tt.capacity(degradeFrom); !math.IsInf(limit, 1) && limit > 0 {
				over := 0
				for _, r := range rates[degradeFrom+fallWithin : degradeUntil] {
					if r > limit {
						over++
					}
				}
				if over > 3 {
					t.Errorf("got %d decisions over the degraded capacity %v/s, want at most 3: %v", over, limit, rates[degradeFrom:degradeUntil])
				}
			}
			best := 0.0
			for _, r := range rates[degradeUntil : degradeUntil+recoverWithin] {
				best = max(best, r)
			}
			if want := recoveredShare * before; best < want {
				t.Errorf("got at most %v/s in the %d s after recovery, want at least %v", best, recoverWithin, want)
			}
		})
	}
}

func TestCooldownAndDecreaseSpacing(t *testing.T) {
	c := newController(t, base())
	steps := []struct {
		signal Signal
		rate   float64
		reason string
	}{
		{slow(0), 50, "decrease: hold p99 412ms > 250ms"},
		{slow(1), 50, "hold: decreased 1s ago; hold p99 412ms > 250ms"},
		{slow(2), 50, "hold: decreased 2s ago; hold p99 412ms > 250ms"},
		{slow(3), 25, "decrease: hold p99 412ms > 250ms"},
		{healthy(4), 25, "hold: cooldown"},
		{healthy(7), 25, "hold: cooldown"},
		{healthy(8), 35, "increase: within objectives"},
		{healthy(9), 45, "increase: within objectives"},
	}
	for i, st := range steps {
		if d := c.Decide(st.signal); d.Rate != st.rate || d.Reason != st.reason {
			t.Fatalf("step %d: got %v %q, want %v %q", i, d.Rate, d.Reason, st.rate, st.reason)
		}
	}

	cfg := base()
	cfg.Cooldown = -1
	c = newController(t, cfg)
	c.Decide(slow(0))
	if d := c.Decide(healthy(1)); d.Rate != 60 || d.Action != ActionIncrease {
		t.Errorf("without cooldown: got %v (%v), want 60 (increase)", d.Rate, d.Action)
	}
}

func TestIncreaseFollowsElapsedTime(t *testing.T) {
	c := newController(t, base())
	steps := []struct {
		at     time.Duration
		rate   float64
		action Action
	}{
		{0, 110, ActionIncrease}, // the first decision takes a whole step
		{500 * time.Millisecond, 115, ActionIncrease},
		{time.Minute, 125, ActionIncrease},  // a gap is not a licence to jump
		{30 * time.Second, 125, ActionHold}, // time running back is taken as no time
		{time.Minute, 125, ActionHold},
		{time.Minute + 100*time.Millisecond, 126, ActionIncrease},
	}
	for i, st := range steps {
		s := healthy(0)
		s.At = t0.Add(st.at)
		if d := c.Decide(s); math.Abs(d.Rate-st.rate) > 1e-9 || d.Action != st.action {
			t.Fatalf("step %d: got %v (%v), want %v (%v)", i, d.Rate, d.Action, st.rate, st.action)
		}
	}
}

func TestInventoryCap(t *testing.T) {
	// 1.5 × (seats left + held) per 60 s.
	c := newController(t, base())
	steps := []struct {
		left, held int
		known      bool
		rate       float64
		reason     string
	}{
		{1000, 200, true, 30, "cap: inventory (1000 left + 200 held) allows 30/s"},
		{1000, 200, true, 30, "cap: inventory (1000 left + 200 held) allows 30/s"},
		{2000, 0, true, 40, "increase: within objectives"}, // holds released: additive, no jump
		{2000, 0, false, 50, "increase: within objectives"},
		{10, 6, true, 0.4, "cap: inventory (10 left + 6 held) allows 0.4/s"}, // below min_rate
		{0, 4, true, 0.1, "cap: inventory (0 left + 4 held) allows 0.1/s"},   // held seats may come back
	}
	for i, st := range steps {
		s := healthy(i)
		s.SeatsLeft, s.SeatsHeld, s.InventoryKnown = st.left, st.held, st.known
		d := c.Decide(s)
		if math.Abs(d.Rate-st.rate) > 1e-9 || d.Reason != st.reason || d.SoldOut {
			t.Fatalf("step %d: got %v %q (sold out %v), want %v %q", i, d.Rate, d.Reason, d.SoldOut, st.rate, st.reason)
		}
	}
	// A decrease keeps the cap and says why it also cut.
	c = newController(t, base())
	s := slow(10)
	s.SeatsLeft, s.SeatsHeld = 10, 0
	if d, want := c.Decide(s), "cap: inventory (10 left + 0 held) allows 0.25/s; decrease: hold p99 412ms > 250ms"; d.Reason != want || d.Rate != 0.25 {
		t.Errorf("got %v %q, want 0.25 %q", d.Rate, d.Reason, want)
	}

	cfg := base()
	cfg.InventoryFactor = -1
	c = newController(t, cfg)
	s = healthy(0)
	s.SeatsLeft, s.SeatsHeld = 1, 0
	if d := c.Decide(s); d.Rate != 110 || d.Action != ActionIncrease {
		t.Errorf("cap disabled: got %v (%v), want 110 (increase)", d.Rate, d.Action)
	}
}

func TestSoldOut(t *testing.T) {
	tests := []struct {
		name       string
		left, held int
		known      bool
		stale      bool
		soldOut    bool
	}{
		{"nothing left", 0, 0, true, false, true},
		{"seats held may come back", 0, 3, true, false, false},
		{"one seat left", 1, 0, true, false, false},
		{"inventory unknown", 0, 0, false, false, false},
		{"stale", 0, 0, true, true, false},
		{"negative counts are not inventory", -1, 0, true, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newController(t, base())
			s := healthy(0)
			s.SeatsLeft, s.SeatsHeld, s.InventoryKnown, s.Stale = tt.left, tt.held, tt.known, tt.stale
			d := c.Decide(s)
			if d.SoldOut != tt.soldOut || c.SoldOut() != tt.soldOut {
				t.Fatalf("got sold out %v (%v), want %v", d.SoldOut, c.SoldOut(), tt.soldOut)
			}
			if tt.soldOut && (d.Rate != 0 || d.Action != ActionSoldOut || d.Reason != "sold out") {
				t.Errorf("got %v %q (%v), want 0 %q (%v)", d.Rate, d.Reason, d.Action, "sold out", ActionSoldOut)
			}
		})
	}
}

func TestSoldOutLatchesUntilReopen(t *testing.T) {
	c := newController(t, base())
	empty := func(i int) Signal {
		s := healthy(i)
		s.SeatsLeft, s.SeatsHeld = 0, 0
		return s
	}
	c.Decide(empty(0))
	for i := 1; i < 4; i++ {
		if d := c.Decide(healthy(i)); d.Rate != 0 || !d.SoldOut || d.Reason != "sold out" {
			t.Fatalf("decision %d after sell-out: got %v %q, want 0 sold out", i, d.Rate, d.Reason)
		}
	}
	if err := c.Reset(50); !errors.Is(err, ErrSoldOut) {
		t.Errorf("Reset while sold out: got %v, want %v", err, ErrSoldOut)
	}
	c.Reopen()
	if c.SoldOut() || c.Rate() != 10 {
		t.Fatalf("after Reopen: got sold out %v at %v, want open at min_rate 10", c.SoldOut(), c.Rate())
	}
	if d := c.Decide(healthy(4)); d.Rate != 20 || d.SoldOut {
		t.Errorf("after Reopen: got %v (sold out %v), want 20", d.Rate, d.SoldOut)
	}
	if d := c.Decide(empty(5)); !d.SoldOut {
		t.Errorf("sold out again: got %+v", d)
	}
}

func TestSoldOutAfter(t *testing.T) {
	cfg := base()
	cfg.SoldOutAfter = 2 * time.Second
	c := newController(t, cfg)
	steps := []struct {
		left    int
		soldOut bool
	}{{0, false}, {0, false}, {5, false}, {0, false}, {0, false}, {0, true}}
	for i, st := range steps {
		s := healthy(i)
		s.SeatsLeft, s.SeatsHeld = st.left, 0
		d := c.Decide(s)
		if d.SoldOut != st.soldOut {
			t.Fatalf("second %d: got sold out %v, want %v", i, d.SoldOut, st.soldOut)
		}
		if st.left == 0 && d.Rate != 0 {
			t.Fatalf("second %d: got rate %v with nothing to sell, want 0", i, d.Rate)
		}
	}
}

func TestStaleSignal(t *testing.T) {
	stale := func(i int) Signal { return Signal{At: at(i), Stale: true} }
	c := newController(t, base())
	for i := range 10 {
		if d := c.Decide(stale(i)); d.Rate != 100 || d.Reason != "hold: signal stale" {
			t.Fatalf("second %d: got %v %q, want 100 %q", i, d.Rate, d.Reason, "hold: signal stale")
		}
	}
	steps := []struct {
		signal Signal
		rate   float64
		reason string
	}{
		{stale(10), 50, "decrease: signal stale for 10s"},
		{stale(11), 50, "hold: signal stale"},
		{stale(13), 25, "decrease: signal stale for 13s"},
		{healthy(14), 25, "hold: cooldown"},
		{stale(20), 25, "hold: signal stale"}, // fresh signals restart the count
		{healthy(21), 35, "increase: within objectives"},
	}
	for i, st := range steps {
		if d := c.Decide(st.signal); d.Rate != st.rate || d.Reason != st.reason {
			t.Fatalf("step %d: got %v %q, want %v %q", i, d.Rate, d.Reason, st.rate, st.reason)
		}
	}

	cfg := base()
	cfg.StaleDecayAfter = -1
	c = newController(t, cfg)
	for i := range 100 {
		c.Decide(stale(i))
	}
	if got := c.Rate(); got != 100 {
		t.Errorf("without decay: got %v after 100 stale seconds, want 100", got)
	}
	// Insane seating values count as stale.
	for _, s := range []Signal{{At: at(200), HoldErrorRate: math.NaN()}, {At: at(201), HoldErrorRate: 2}, {At: at(202), HoldLatencyP99: -1}} {
		if d := c.Decide(s); d.Reason != "hold: signal stale" {
			t.Errorf("%+v: got %q, want hold: signal stale", s, d.Reason)
		}
	}
}

func TestSetBoundsAndReset(t *testing.T) {
	c := newController(t, base())
	if err := c.SetBounds(20, 60); err != nil {
		t.Fatal(err)
	}
	if got := c.Rate(); got != 60 {
		t.Errorf("after SetBounds(20, 60): got %v, want 60", got)
	}
	if lo, hi := c.Bounds(); lo != 20 || hi != 60 {
		t.Errorf("Bounds: got %v, %v, want 20, 60", lo, hi)
	}
	if err := c.SetBounds(80, 90); err != nil || c.Rate() != 80 {
		t.Errorf("after SetBounds(80, 90): got %v, %v, want 80", c.Rate(), err)
	}
	for _, b := range [][2]float64{{-1, 10}, {10, 5}, {0, 0}, {0, math.NaN()}, {math.Inf(-1), 1}, {0, 2 * MaxRatePerSecond}} {
		if err := c.SetBounds(b[0], b[1]); err == nil || !strings.HasPrefix(err.Error(), "admission: ") {
			t.Errorf("SetBounds(%v, %v): got %v, want an error", b[0], b[1], err)
		}
	}
	for _, r := range []float64{79, 91, math.NaN()} {
		if err := c.Reset(r); err == nil || !strings.HasPrefix(err.Error(), "admission: rate ") {
			t.Errorf("Reset(%v): got %v, want an error", r, err)
		}
	}
	// Reset forgets the cooldown of the latest decrease.
	c.Decide(slow(0))
	if d := c.Decide(healthy(1)); d.Reason != "hold: cooldown" {
		t.Fatalf("got %q, want hold: cooldown", d.Reason)
	}
	if err := c.Reset(85); err != nil {
		t.Fatal(err)
	}
	if d := c.Decide(healthy(2)); d.Rate != 90 || d.Action != ActionIncrease {
		t.Errorf("after Reset(85): got %v (%v), want 90 (increase)", d.Rate, d.Action)
	}
}

func TestControllerConcurrent(t *testing.T) {
	c := newController(t, base())
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				s := healthy(i)
				switch (g + i) % 7 {
				case 0:
					s = slow(i)
				case 1:
					s.SeatsLeft, s.SeatsHeld = 0, 0
				case 2:
					c.Reopen()
				case 3:
					_ = c.SetBounds(10, 200)
				case 4:
					_ = c.Reset(50)
				}
				d := c.Decide(s)
				if r := c.Rate(); r < 0 || r > 200 || d.Rate < 0 || d.Rate > 200 {
					t.Errorf("got rate %v, decision %v, want within [0, 200]", r, d.Rate)
					return
				}
				c.SoldOut()
			}
		})
	}
	wg.Wait()
}

// FuzzController drives a controller with arbitrary signal sequences and
// checks its invariants: the rate is finite and within [0, max_rate]; it is
// at least min_rate unless the inventory or a sell-out took it lower; it
// never rises on a stale, breached or insane signal, nor within the cooldown
// of a decrease.
func FuzzController(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, false)
	f.Add([]byte("\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18"), true)
	f.Add([]byte(strings.Repeat("\xff\x80\x7f\x01\x00\x10\x20\x30", 40)), true)
	const rec = 8 // bytes per signal
	f.Fuzz(func(t *testing.T, data []byte, inventory bool) {
		cfg := ControllerConfig{MinRate: 3, MaxRate: 300, InitialRate: 50, Increase: 7, SoldOutAfter: time.Second}
		if !inventory {
			cfg.InventoryFactor = -1
		}
		c := newController(t, cfg)
		now, eff := t0, t0
		var lastCut time.Time
		capped := false
		for len(data) >= rec {
			b := data[:rec]
			data = data[rec:]
			// Time steps of -1 s to 6.75 s, running back at times.
			now = now.Add(time.Duration(int(b[0])-32) * time.Second / 32)
			if now.After(eff) {
				eff = now // the controller takes time that runs back as no time
			}
			s := Signal{
				At:               now,
				HoldLatencyP99:   time.Duration(int8(b[1])) * 5 * time.Millisecond,
				HoldErrorRate:    float64(int8(b[2])) / 100,
				OriginLatencyP99: time.Duration(int8(b[3])) * 20 * time.Millisecond,
				OriginErrorRate:  float64(b[4]) / 200,
				SeatsLeft:        int(binary.LittleEndian.Uint16(b[5:7])) % 300,
				SeatsHeld:        int(b[7] % 4),
				InventoryKnown:   b[7]&0x10 != 0,
				Stale:            b[7]&0x20 != 0,
			}
			if b[4] == 255 {
				s.OriginErrorRate = math.NaN()
			}
			before := c.Rate()
			d := c.Decide(s)
			if d.Previous != before || c.Rate() != d.Rate {
				t.Fatalf("%+v: got previous %v and rate %v, want %v and %v", s, d.Previous, c.Rate(), before, d.Rate)
			}
			if !finite(d.Rate) || d.Rate < 0 || d.Rate > cfg.MaxRate {
				t.Fatalf("%+v: got rate %v, want within [0, %v]", s, d.Rate, cfg.MaxRate)
			}
			capped = capped || d.Action == ActionCap || d.SoldOut
			if !capped && d.Rate < cfg.MinRate {
				t.Fatalf("%+v: got rate %v under min_rate %v without a cap or a sell-out", s, d.Rate, cfg.MinRate)
			}
			if d.Action == ActionDecrease || strings.Contains(d.Reason, "; decrease: ") {
				lastCut = eff
			}
			if d.Rate > before {
				bad := !s.seatingValid() || !s.originValid() || c.breaches(s, true) != ""
				if bad || (!lastCut.IsZero() && eff.Sub(lastCut) < 5*time.Second) {
					t.Fatalf("%+v: rate rose from %v to %v (%q)", s, before, d.Rate, d.Reason)
				}
			}
			if d.SoldOut {
				c.Reopen()
				lastCut, capped = time.Time{}, false
			}
		}
	})
}

func ExampleController() {
	c, err := NewController(ControllerConfig{MinRate: 10, MaxRate: 500, InitialRate: 100, Increase: 20})
	if err != nil {
		panic(err)
	}
	now := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
	for i, p99 := range []time.Duration{40, 40, 412, 40} {
		s, err := ParseSeatingHealth([]byte(`{"status":"ok","error_rate":0,"hold_latency_ms":{"p99":`+
			strconv.Itoa(int(p99))+`},"events":[{"event":"finals","seats_left":48211,"seats_held":1180,"seats_sold":609}]}`), "finals")
		if err != nil {
			panic(err)
		}
		s.At = now.Add(time.Duration(i) * time.Second)
		d := c.Decide(s)
		fmt.Printf("%.0f/s %s\n", d.Rate, d.Reason)
	}
	// Output:
	// 120/s increase: within objectives
	// 140/s increase: within objectives
	// 70/s decrease: hold p99 412ms > 250ms
	// 70/s hold: cooldown
}
