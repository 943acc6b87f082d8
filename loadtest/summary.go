package loadtest

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"time"
)

// waitBounds are the upper bounds, in seconds, of the wait distribution's
// buckets; the last bucket is unbounded (+Inf, written as 0 in JSON would be
// ambiguous, so it is math.MaxInt32 seconds).
var waitBounds = []float64{1, 2, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, math.MaxInt32}

// cohorts is the number of arrival cohorts of Result.Cohorts.
const cohorts = 10

// result turns the run's records into a Result. Called once every worker
// has stopped.
func (e *engine) result(elapsed time.Duration) *Result {
	r := &Result{
		Target:          e.cfg.Target,
		Event:           e.cfg.Event,
		DurationSeconds: elapsed.Seconds(),
		Fans:            len(e.fans),
		Joined:          int(e.joined.Load()),
		Admitted:        int(e.admitted.Load()),
		Abandoned:       int(e.abandoned.Load()),
		Failed:          int(e.failed.Load()),
		Unfinished:      len(e.fans) - int(e.finished.Load()),
		SeatsSold:       int(e.soldSeats.Load()),
		Oversold:        e.oversold,
		HoldsExpired:    int(e.holdsExpired.Load()),
		Conflicts:       int(e.conflicts.Load()),
		SeatingSkipped:  e.skipped,
		OutOfTurn:       int(e.outOfTurn.Load()),
		ConfiguredRate:  e.cfg.ConfiguredRate,
		LatencyMS:       map[string]Latency{},
		Errors:          e.errs,
		Series:          e.series,
	}
	for i, rec := range e.rec {
		if l := rec.latency(); l.Count > 0 {
			r.LatencyMS[endpointNames[i]] = l
		}
	}

	// The serving counter at each second boundary.
	bounds := make([]float64, len(e.waitingAt))
	known := make([]bool, len(e.waitingAt))
	for s := range bounds {
		bounds[s], known[s] = e.tl.at(s)
	}
	e.rateAccuracy(r, bounds, known, e.tl.tails(len(bounds)))

	// When each admitted fan's turn came: when the serving counter reached
	// its sequence number, which is what the deployment decided, rather than
	// when the fan's next poll happened to see it; never after that poll.
	admitAt := make([]int32, len(e.fans))
	for i := range e.fans {
		f := &e.fans[i]
		if f.flags&fAdmitted == 0 {
			continue
		}
		admitAt[i] = f.admitMs
		if f.flags&fAdmittedAtJoin == 0 {
			if t, ok := e.tl.reached(f.seq, bounds, known); ok && t < f.admitMs {
				admitAt[i] = max(t, f.joinEnd)
			}
		}
	}
	e.fairness(r, admitAt)
	e.honesty(r, admitAt)
	return r
}

// rateAccuracy fills the admission rate figures.
func (e *engine) rateAccuracy(r *Result, bounds []float64, known []bool, tails []float64) {
	rate := e.cfg.ConfiguredRate
	windows := rateWindows(bounds, known, tails, e.waitingAt, rate)
	var sum float64
	n := 0
	for _, w := range windows {
		if w.Counted {
			sum += bounds[int(w.StartSeconds)+10] - bounds[int(w.StartSeconds)]
			n++
		}
	}
	if n > 0 {
		r.AdmittedPerSecond = sum / float64(n*10)
	} else {
		// No full window with a line: the mean over the admitting period.
		first, last := int32(math.MaxInt32), int32(0)
		for i := range e.fans {
			if f := &e.fans[i]; f.flags&fAdmitted != 0 {
				first, last = min(first, f.admitMs), max(last, f.admitMs)
			}
		}
		if last > first {
			r.AdmittedPerSecond = float64(r.Admitted) / (float64(last-first) / 1000)
		}
	}
	if rate == 0 && r.AdmittedPerSecond > 0 {
		rate = r.AdmittedPerSecond
		r.ConfiguredRate, r.RateEstimated = rate, true
		windows = rateWindows(bounds, known, tails, e.waitingAt, rate)
	}
	r.Windows = windows
	for _, w := range windows {
		if w.Counted {
			r.RateError = max(r.RateError, w.Error)
		}
	}
}

// fairness fills Kendall tau, inversions, cohorts and the wait buckets.
func (e *engine) fairness(r *Result, admitAt []int32) {
	sale := ms(int64(e.cfg.SaleStart))
	var spans []joinSpan
	var lastArrival time.Duration
	if len(e.arrivals) > 0 {
		lastArrival = e.arrivals[len(e.arrivals)-1]
	}
	width := max(lastArrival/cohorts+1, time.Millisecond)
	type cohortAcc struct {
		fans, admitted int
		waits          []float64
	}
	acc := make([]cohortAcc, cohorts)
	r.WaitSeconds = make([]Bucket, len(waitBounds))
	for i, b := range waitBounds {
		r.WaitSeconds[i].UpToSeconds = b
	}
	for i := range e.fans {
		f := &e.fans[i]
		c := min(int(e.arrivals[i]/width), cohorts-1)
		acc[c].fans++
		if f.flags&fAdmitted == 0 {
			continue
		}
		wait := math.Max(0, float64(admitAt[i]-ms(int64(e.arrivals[i])))/1000)
		acc[c].admitted++
		acc[c].waits = append(acc[c].waits, wait)
		r.WaitSeconds[sort.SearchFloat64s(waitBounds, wait)].Count++
		if ms(int64(e.arrivals[i])) >= sale {
			spans = append(spans, joinSpan{start: f.joinStart, end: f.joinEnd, seq: f.seq})
		}
	}
	r.FairnessFans = len(spans)
	r.Inversions = definiteInversions(spans)
	r.KendallTau = kendallTau(r.Inversions, len(spans))
	for c, a := range acc {
		sort.Float64s(a.waits)
		r.Cohorts = append(r.Cohorts, Cohort{
			ArrivedFromSeconds: (time.Duration(c) * width).Seconds(),
			ArrivedToSeconds:   (time.Duration(c+1) * width).Seconds(),
			Fans:               a.fans,
			Admitted:           a.admitted,
			WaitP50Seconds:     quantile(a.waits, 0.5),
			WaitP90Seconds:     quantile(a.waits, 0.9),
		})
	}
}

// honesty compares every estimate a fan was shown with the wait that
// really remained from that moment.
func (e *engine) honesty(r *Result, admitAt []int32) {
	var errs []float64
	for i := range e.fans {
		f := &e.fans[i]
		if f.flags&fAdmitted == 0 {
			continue
		}
		weight := max(int(f.etaStride), 1)
		for _, s := range f.eta[:f.etaN] {
			real := float64(admitAt[i]-s.at) / 1000
			if v, ok := etaError(float64(s.est), real); ok {
				for range weight {
					errs = append(errs, v)
				}
			}
		}
	}
	sort.Float64s(errs)
	r.ETASamples = len(errs)
	r.ETAErrorMedian = quantile(errs, 0.5)
	r.ETAErrorP90 = quantile(errs, 0.9)
}

// WriteJSON writes r as indented JSON: the output of foyer loadtest --json.
func WriteJSON(w io.Writer, r *Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("loadtest: writing JSON: %w", err)
	}
	return nil
}

// Summary writes the end-of-run summary for people.
func Summary(w io.Writer, r *Result) error {
	var b strings.Builder
	fmt.Fprintf(&b, "foyer loadtest: %s event %s, %.1f s\n", r.Target, r.Event, r.DurationSeconds)
	fmt.Fprintf(&b, "fans        %d scheduled, %d joined, %d admitted, %d abandoned, %d failed, %d unfinished\n",
		r.Fans, r.Joined, r.Admitted, r.Abandoned, r.Failed, r.Unfinished)
	rateNote := ""
	if r.RateEstimated {
		rateNote = " (not given: estimated)"
	}
	fmt.Fprintf(&b, "admission   %.2f/s observed vs %.2f/s configured%s, worst 10 s window %.1f %% off\n",
		r.AdmittedPerSecond, r.ConfiguredRate, rateNote, 100*r.RateError)
	fmt.Fprintf(&b, "fairness    Kendall tau %.5f over %d fans, %d inversions, %d admitted out of turn\n",
		r.KendallTau, r.FairnessFans, r.Inversions, r.OutOfTurn)
	fmt.Fprintf(&b, "estimates   error median %.1f %%, p90 %.1f %% (%d estimates)\n",
		100*r.ETAErrorMedian, 100*r.ETAErrorP90, r.ETASamples)
	if r.SeatingSkipped != "" {
		fmt.Fprintf(&b, "seating     skipped: %s\n", r.SeatingSkipped)
	} else {
		fmt.Fprintf(&b, "seating     %d seats sold, %d OVERSOLD, %d holds expired, %d conflicts\n",
			r.SeatsSold, r.Oversold, r.HoldsExpired, r.Conflicts)
	}
	fmt.Fprintf(&b, "%-12s %9s %7s %9s %9s %9s %9s %9s\n", "latency ms", "count", "errors", "p50", "p90", "p99", "p999", "max")
	for _, name := range endpointNames {
		if l, ok := r.LatencyMS[name]; ok {
			fmt.Fprintf(&b, "%-12s %9d %7d %9.2f %9.2f %9.2f %9.2f %9.2f\n", name, l.Count, l.Errors, l.P50, l.P90, l.P99, l.P999, l.Max)
		}
	}
	if len(r.Errors) > 0 {
		kinds := make([]string, 0, len(r.Errors))
		for k := range r.Errors {
			kinds = append(kinds, k)
		}
		sort.Strings(kinds)
		b.WriteString("errors     ")
		for _, k := range kinds {
			fmt.Fprintf(&b, " %s %d", k, r.Errors[k])
		}
		b.WriteString("\n")
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("loadtest: writing summary: %w", err)
	}
	return nil
}
