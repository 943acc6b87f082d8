// Package loadtest is the surge simulator: virtual fans doing the whole
// journey of an on-sale (join, poll, admission, seat holds, confirmation)
// against a running deployment, known only through its public HTTP contract
// (docs/http-api.md, docs/seating.md). It measures latency without hiding
// stalls, admission rate accuracy, fairness, wait-time honesty and oversell.
//
// A fan is a small state machine, not a goroutine: one scheduler orders the
// fans' next actions by time and a bounded pool of workers sends their
// requests over one pooled fasthttp client.
package loadtest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Arrival curves.
const (
	// ArrivalBurst brings every fan within ArrivalDuration, front-loaded:
	// the arrival rate halves every fifth of it (an exponential decay), so
	// about half of the fans come in the first fifth.
	ArrivalBurst = "burst"
	// ArrivalPoisson brings fans at a constant rate over ArrivalDuration,
	// with exponential gaps (a Poisson process).
	ArrivalPoisson = "poisson"
	// ArrivalCSV replays arrival offsets, in seconds, read from
	// Config.ArrivalCSV.
	ArrivalCSV = "csv"
)

// Seat preferences.
const (
	// SeatsHot makes most fans (80 %) aim at a small set of hot seats at the
	// front of the first stand, so holds are contested; the others spread.
	SeatsHot = "hot"
	// SeatsSpread picks adjacent seats in a random row of a random stand.
	SeatsSpread = "spread"
	// SeatsBest asks the seating service for the best available seats of a
	// random stand and tier.
	SeatsBest = "best"
)

// Config describes one load test. The zero value of every field but Target,
// Event and Fans means the documented default; Run fills the defaults in
// and validates.
type Config struct {
	// Target is the base URL of the public listener, e.g.
	// "http://localhost:8080". Required.
	Target string
	// SeatingTarget is the base URL of the seating API (its routes are under
	// /seating/v1). Default: Target, as when the seating service is the
	// origin behind the proxy.
	SeatingTarget string
	// Event is the event's name. Required.
	Event string
	// Fans is the number of virtual fans. Required (> 0), unless ArrivalCSV
	// gives the arrivals, whose count then wins.
	Fans int

	// Arrival is the arrival curve: ArrivalBurst (default), ArrivalPoisson
	// or ArrivalCSV.
	Arrival string
	// ArrivalDuration is the span over which fans arrive. Default 10 s.
	ArrivalDuration time.Duration
	// ArrivalCSV is read when Arrival is ArrivalCSV: the first column of
	// each line is an arrival offset in seconds from the start of the run;
	// a non-numeric first line is taken as a header.
	ArrivalCSV io.Reader
	// SaleStart is the offset from the start of the run at which the sale
	// opens. Fans arriving before it are pre-sale and left out of the
	// fairness measure. Default 0.
	SaleStart time.Duration
	// Duration bounds the whole run. Default ArrivalDuration + 2 minutes.
	Duration time.Duration

	// AbandonProbability is the probability that a waiting fan gives up
	// during each minute spent waiting (applied at each poll pro rata, so it
	// does not depend on how often the server asks fans to poll). An
	// abandoning fan just stops polling, as a closed tab does. Default 0.
	AbandonProbability float64
	// PollJitter is the client's own jitter on top of refresh_after_ms, as a
	// fraction: each wait is multiplied by a uniform factor in
	// [1−PollJitter, 1+PollJitter]. Default 0.1; negative means none.
	PollJitter float64

	// SeatingDisabled skips the seating journey: admitted fans are done.
	// The journey is also skipped, and the fact reported, when the venue
	// map answers 404 (a deployment without seating).
	SeatingDisabled bool
	// SeatPreference is SeatsHot (default), SeatsSpread or SeatsBest.
	SeatPreference string
	// SeatsPerFan is the number of seats each fan holds, 1 to 4. Default 2.
	SeatsPerFan int
	// ConfirmProbability is the probability that a fan confirms its hold.
	// Default 0.9 (zero value); a negative value means no fan confirms.
	ConfirmProbability float64
	// ReleaseUnconfirmed makes fans who do not confirm release their hold;
	// by default they leave it to expire.
	ReleaseUnconfirmed bool
	// ThinkTime is how long a fan looks at its held seats before confirming
	// or releasing; each fan waits a uniform time in [ThinkTime/2,
	// 3·ThinkTime/2]. Default 1 s; negative means none.
	ThinkTime time.Duration
	// RevalidateVenue makes every admitted fan fetch the venue map with
	// If-None-Match, as a browser with a warm cache does. The map is parsed
	// once per run either way.
	RevalidateVenue bool

	// MaxConns bounds the connections to each target and the number of
	// requests in flight. Default 512.
	MaxConns int
	// RequestTimeout bounds one request. Default 10 s.
	RequestTimeout time.Duration

	// ConfiguredRate is the admission rate the deployment was set to, in
	// admissions per second; the public contract has no endpoint for it.
	// Zero means unknown: the rate is then estimated from the observed
	// admissions and rate accuracy is measured against that estimate.
	ConfiguredRate float64
	// Seed makes a run's random choices reproducible. Zero means 1.
	Seed uint64
}

// withDefaults returns c with the documented defaults filled in.
func (c Config) withDefaults() Config {
	if c.Arrival == "" {
		c.Arrival = ArrivalBurst
	}
	if c.ArrivalDuration == 0 {
		c.ArrivalDuration = 10 * time.Second
	}
	if c.Duration == 0 {
		c.Duration = c.SaleStart + c.ArrivalDuration + 2*time.Minute
	}
	switch {
	case c.PollJitter == 0:
		c.PollJitter = 0.1
	case c.PollJitter < 0:
		c.PollJitter = 0
	}
	if c.SeatPreference == "" {
		c.SeatPreference = SeatsHot
	}
	if c.SeatsPerFan == 0 {
		c.SeatsPerFan = 2
	}
	switch {
	case c.ConfirmProbability == 0:
		c.ConfirmProbability = 0.9
	case c.ConfirmProbability < 0:
		c.ConfirmProbability = 0
	}
	switch {
	case c.ThinkTime == 0:
		c.ThinkTime = time.Second
	case c.ThinkTime < 0:
		c.ThinkTime = 0
	}
	if c.MaxConns == 0 {
		c.MaxConns = 512
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = 10 * time.Second
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	c.Target = strings.TrimRight(c.Target, "/")
	if c.SeatingTarget == "" {
		c.SeatingTarget = c.Target
	}
	c.SeatingTarget = strings.TrimRight(c.SeatingTarget, "/")
	return c
}

// Validate reports the first invalid field of c, after defaults. The error
// names the field.
func (c Config) Validate() error {
	c = c.withDefaults()
	for _, t := range []struct{ name, v string }{{"Target", c.Target}, {"SeatingTarget", c.SeatingTarget}} {
		u, err := url.Parse(t.v)
		if t.v == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("loadtest: %s %q: want an http:// or https:// base URL", t.name, t.v)
		}
	}
	if c.Event == "" || strings.ContainsAny(c.Event, "/?#% ") {
		return fmt.Errorf("loadtest: Event %q: want an event name", c.Event)
	}
	switch c.Arrival {
	case ArrivalBurst, ArrivalPoisson:
		if c.Fans <= 0 {
			return fmt.Errorf("loadtest: Fans %d: want at least 1", c.Fans)
		}
	case ArrivalCSV:
		if c.ArrivalCSV == nil {
			return errors.New("loadtest: ArrivalCSV: required when Arrival is csv")
		}
	default:
		return fmt.Errorf("loadtest: Arrival %q: want burst, poisson or csv", c.Arrival)
	}
	if c.Fans < 0 {
		return fmt.Errorf("loadtest: Fans %d: want at least 1", c.Fans)
	}
	if c.ArrivalDuration < 0 {
		return fmt.Errorf("loadtest: ArrivalDuration %v: must not be negative", c.ArrivalDuration)
	}
	if c.SaleStart < 0 {
		return fmt.Errorf("loadtest: SaleStart %v: must not be negative", c.SaleStart)
	}
	if c.Duration < 0 {
		return fmt.Errorf("loadtest: Duration %v: must not be negative", c.Duration)
	}
	if p := c.AbandonProbability; p < 0 || p > 1 || math.IsNaN(p) {
		return fmt.Errorf("loadtest: AbandonProbability %v: want a probability in [0, 1]", p)
	}
	if c.PollJitter >= 1 || math.IsNaN(c.PollJitter) {
		return fmt.Errorf("loadtest: PollJitter %v: want a fraction below 1", c.PollJitter)
	}
	switch c.SeatPreference {
	case SeatsHot, SeatsSpread, SeatsBest:
	default:
		return fmt.Errorf("loadtest: SeatPreference %q: want hot, spread or best", c.SeatPreference)
	}
	if c.SeatsPerFan < 1 || c.SeatsPerFan > 4 {
		return fmt.Errorf("loadtest: SeatsPerFan %d: want 1 to 4", c.SeatsPerFan)
	}
	if c.ConfirmProbability > 1 || math.IsNaN(c.ConfirmProbability) {
		return fmt.Errorf("loadtest: ConfirmProbability %v: want a probability in [0, 1]", c.ConfirmProbability)
	}
	if c.MaxConns < 0 {
		return fmt.Errorf("loadtest: MaxConns %d: must not be negative", c.MaxConns)
	}
	if c.RequestTimeout < 0 {
		return fmt.Errorf("loadtest: RequestTimeout %v: must not be negative", c.RequestTimeout)
	}
	if c.ConfiguredRate < 0 || math.IsNaN(c.ConfiguredRate) || math.IsInf(c.ConfiguredRate, 0) {
		return fmt.Errorf("loadtest: ConfiguredRate %v: want a rate of 0 (unknown) or more", c.ConfiguredRate)
	}
	return nil
}

// arrivals returns the fans' arrival offsets from the start of the run,
// sorted.
func (c Config) arrivals(rng *rand.Rand) ([]time.Duration, error) {
	var out []time.Duration
	span := float64(c.ArrivalDuration)
	switch c.Arrival {
	case ArrivalBurst:
		// An exponential decay truncated to the span, the rate halving every
		// fifth of it (rate ∝ exp(−k·x), k = 5·ln 2), sampled by inverting
		// the truncated law's CDF.
		k := 5 * math.Ln2
		norm := 1 - math.Exp(-k)
		out = make([]time.Duration, c.Fans)
		for i := range out {
			u := rng.Float64()
			x := -math.Log(1-u*norm) / k
			out[i] = time.Duration(x * span)
		}
	case ArrivalPoisson:
		// Exponential gaps at the rate that brings Fans within the span,
		// cut at the span so the run's shape is what was asked.
		out = make([]time.Duration, c.Fans)
		mean := span / float64(c.Fans)
		t := 0.0
		for i := range out {
			t += rng.ExpFloat64() * mean
			out[i] = time.Duration(math.Min(t, span))
		}
	case ArrivalCSV:
		var err error
		if out, err = readArrivalCSV(c.ArrivalCSV); err != nil {
			return nil, err
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}

// readArrivalCSV reads arrival offsets in seconds, one a line, first
// column.
func readArrivalCSV(r io.Reader) ([]time.Duration, error) {
	sc := bufio.NewScanner(r)
	var out []time.Duration
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		field, _, _ := strings.Cut(text, ",")
		v, err := strconv.ParseFloat(strings.TrimSpace(field), 64)
		if err != nil {
			if line == 1 {
				continue // a header
			}
			return nil, fmt.Errorf("loadtest: arrival CSV line %d: %q is not a number of seconds", line, field)
		}
		if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("loadtest: arrival CSV line %d: offset %v must be 0 or more seconds", line, v)
		}
		out = append(out, time.Duration(v*float64(time.Second)))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("loadtest: arrival CSV: %w", err)
	}
	if len(out) == 0 {
		return nil, errors.New("loadtest: arrival CSV: no arrivals")
	}
	return out, nil
}
