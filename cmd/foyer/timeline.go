package main

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// timelinePoint is one second of a rehearsal as the deployment saw it. The
// surge simulator knows Foyer only from outside; these are the inside
// figures a benchmark of admission needs: the rate in force, what the
// seating service's health document said, and what became of the holds.
type timelinePoint struct {
	Seconds float64
	// Rate is the admission rate in force (the adaptive controller's, when
	// it runs); SoldOut says the line was declared sold out.
	Rate    float64
	SoldOut bool
	// The inventory, from the seating health document; SeatsLeft is −1
	// while unknown.
	SeatsLeft, SeatsHeld, SeatsSold int
	// The health document's hold figures over its 10-second window.
	HoldsPerSecond, HoldP99MS, HoldErrorRate float64
	// Holds are the seating service's hold answers since the start.
	Holds holdCounts
}

// holdCounts are hold answers of the seating service by outcome
// (foyer_seating_holds_total).
type holdCounts struct {
	Held       int64 // seats held
	Conflicts  int64 // seats taken, or no block of seats free: an answer, not an error
	Overloaded int64 // refused by seating.max_inflight_holds (503 overloaded)
	Failed     int64 // the store failed or timed out (503 store_unavailable)
}

// timeline samples a rehearsal's deployment once a second. It is safe for
// concurrent use.
type timeline struct {
	st    *rehearsal
	start time.Time

	mu     sync.Mutex // guards points
	points []timelinePoint
}

// run samples until ctx ends, then takes a last point.
func (tl *timeline) run(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			tl.sample(context.WithoutCancel(ctx))
			return
		case <-t.C:
			tl.sample(ctx)
		}
	}
}

func (tl *timeline) sample(ctx context.Context) {
	st := tl.st
	p := timelinePoint{Seconds: time.Since(tl.start).Seconds(), SeatsLeft: -1}
	if _, line, ok := st.proxy.Event(st.event); ok {
		p.Rate, p.SoldOut = line.Control.RatePerSecond, line.Control.SoldOut
	}
	hctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	h := st.seating.Health(hctx)
	cancel()
	p.HoldsPerSecond, p.HoldP99MS, p.HoldErrorRate = h.HoldsPerSecond, h.HoldLatencyMS.P99, h.ErrorRate
	for _, e := range h.Events {
		if e.Event == st.event && !e.Stale {
			p.SeatsLeft, p.SeatsHeld, p.SeatsSold = e.SeatsLeft, e.SeatsHeld, e.SeatsSold
		}
	}
	p.Holds = gatherHolds(st.metrics)
	tl.mu.Lock()
	tl.points = append(tl.points, p)
	tl.mu.Unlock()
}

// gatherHolds reads foyer_seating_holds_total from g.
func gatherHolds(g prometheus.Gatherer) holdCounts {
	var c holdCounts
	families, _ := g.Gather()
	for _, f := range families {
		if f.GetName() != "foyer_seating_holds_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			n := int64(m.GetCounter().GetValue())
			for _, l := range m.GetLabel() {
				if l.GetName() != "result" {
					continue
				}
				switch l.GetValue() {
				case "held":
					c.Held += n
				case "conflict", "conflict_cached", "no_seats", "cap":
					c.Conflicts += n
				case "overloaded":
					c.Overloaded += n
				default:
					c.Failed += n
				}
			}
		}
	}
	return c
}

// snapshot returns the points taken so far.
func (tl *timeline) snapshot() []timelinePoint {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return slices.Clone(tl.points)
}

// sellOutShare is the share of the seats taken (held or sold) at which a
// sale counts as sold out. Not all: fans asking for adjacent seats leave
// single seats between taken ones that none of them can take (about 1.5 %
// of a venue when every fan asks for two).
const sellOutShare = 0.98

// timelineSummary is what a benchmark of admission reads off a timeline.
type timelineSummary struct {
	// ForSale is the number of seats for sale: free, held or sold (not
	// blocked) at the first sample that knew the inventory.
	ForSale int
	// SellOut is the first second at which sellOutShare of the seats were
	// taken (held or sold); SoldOut is false when that never happened.
	SellOut float64
	SoldOut bool
	// LastHold is the first second at which the seating service had
	// granted every hold it granted in the run: when the last seat went
	// (or the end, if seats were still being taken).
	LastHold float64
	// The admission rate in force from the start to the sell-out (or the
	// end): its minimum, median and maximum over the samples.
	RateMin, RateMedian, RateMax float64
	// MaxHoldP99MS is the highest hold p99 of the health document until
	// the sell-out (or the end).
	MaxHoldP99MS float64
	// AtSellOut and AtEnd are the hold answers until the sell-out (the
	// whole run when there was none) and until the end.
	AtSellOut, AtEnd holdCounts
}

// summarize reads the summary off points, in time order.
func summarize(points []timelinePoint) timelineSummary {
	var s timelineSummary
	if len(points) == 0 {
		return s
	}
	end := len(points) - 1
	for i, p := range points {
		if p.SeatsLeft < 0 {
			continue
		}
		if s.ForSale == 0 {
			s.ForSale = p.SeatsLeft + p.SeatsHeld + p.SeatsSold
		}
		if float64(s.ForSale-p.SeatsLeft) >= sellOutShare*float64(s.ForSale) {
			s.SellOut, s.SoldOut, end = p.Seconds, true, i
			break
		}
	}
	final := points[len(points)-1].Holds.Held
	for _, p := range points {
		if p.Holds.Held == final {
			s.LastHold = p.Seconds
			break
		}
	}
	rates := make([]float64, 0, end+1)
	for _, p := range points[:end+1] {
		rates = append(rates, p.Rate)
		s.MaxHoldP99MS = max(s.MaxHoldP99MS, p.HoldP99MS)
	}
	slices.Sort(rates)
	s.RateMin, s.RateMax = rates[0], rates[len(rates)-1]
	if n := len(rates); n%2 == 1 {
		s.RateMedian = rates[n/2]
	} else {
		s.RateMedian = (rates[n/2-1] + rates[n/2]) / 2
	}
	s.AtSellOut, s.AtEnd = points[end].Holds, points[len(points)-1].Holds
	return s
}

// printTimelineSummary writes the deployment's side of a rehearsal after
// the load test's summary.
func printTimelineSummary(w io.Writer, s timelineSummary, capacity float64) {
	fmt.Fprintln(w, "deployment, sampled each second:")
	if capacity > 0 {
		fmt.Fprintf(w, "  capacity model: the seating core sustains about %.0f holds/s\n", capacity)
	}
	until := "until the end"
	if s.SoldOut {
		fmt.Fprintf(w, "  sell-out: %.0f %% of the %d seats for sale held or sold at %.0f s; the last hold granted at %.0f s\n", 100*sellOutShare, s.ForSale, s.SellOut, s.LastHold)
		until = "until the sell-out"
	} else {
		fmt.Fprintf(w, "  sell-out: never (%.0f %% of the %d seats for sale were not taken by the end)\n", 100*sellOutShare, s.ForSale)
	}
	fmt.Fprintf(w, "  admission rate in force %s: min %.4g, median %.4g, max %.4g per second\n", until, s.RateMin, s.RateMedian, s.RateMax)
	fmt.Fprintf(w, "  seating hold p99 (10 s window) %s: max %.1f ms\n", until, s.MaxHoldP99MS)
	line := func(label string, c holdCounts) {
		fmt.Fprintf(w, "  holds %s: %d held, %d conflicts, %d refused overloaded, %d failed\n", label, c.Held, c.Conflicts, c.Overloaded, c.Failed)
	}
	line(until, s.AtSellOut)
	if s.SoldOut {
		line("until the end", s.AtEnd)
	}
}

// writeTimelineCSV writes points as CSV, one row a second.
func writeTimelineCSV(w io.Writer, points []timelinePoint) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"t", "rate", "sold_out", "seats_left", "seats_held", "seats_sold",
		"holds_per_second", "hold_p99_ms", "hold_error_rate", "held", "conflicts", "overloaded", "failed"})
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	for _, p := range points {
		_ = cw.Write([]string{
			strconv.FormatFloat(p.Seconds, 'f', 1, 64), f(p.Rate), strconv.FormatBool(p.SoldOut),
			strconv.Itoa(p.SeatsLeft), strconv.Itoa(p.SeatsHeld), strconv.Itoa(p.SeatsSold),
			f(p.HoldsPerSecond), f(p.HoldP99MS), f(p.HoldErrorRate),
			strconv.FormatInt(p.Holds.Held, 10), strconv.FormatInt(p.Holds.Conflicts, 10),
			strconv.FormatInt(p.Holds.Overloaded, 10), strconv.FormatInt(p.Holds.Failed, 10),
		})
	}
	cw.Flush()
	return cw.Error()
}
