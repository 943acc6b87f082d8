package loadtest

import (
	"math"
	"sort"
	"sync"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// endpoint names one kind of request, the key of Result.LatencyMS.
type endpoint int

const (
	epJoin endpoint = iota
	epStatus
	epVenue
	epHold
	epConfirm
	epRelease
	numEndpoints
)

var endpointNames = [numEndpoints]string{"join", "status", "venue", "hold", "confirm", "release"}

// Histogram bounds: microseconds, 1 µs to 60 s, 3 significant digits for
// the run; 2 for the per-second histograms, which only feed the charts.
const (
	histMinUS = 1
	histMaxUS = 60_000_000
)

// recorder holds the latencies of one endpoint. Safe for concurrent use.
type recorder struct {
	mu     sync.Mutex // guards all fields
	run    *hdrhistogram.Histogram
	second *hdrhistogram.Histogram
	count  int64
	errors int64
}

func newRecorder() *recorder {
	return &recorder{
		run:    hdrhistogram.New(histMinUS, histMaxUS, 3),
		second: hdrhistogram.New(histMinUS, histMaxUS, 2),
	}
}

// record adds one request's latency, measured from its scheduled time.
func (r *recorder) record(lat time.Duration, failed bool) {
	us := lat.Microseconds()
	us = min(max(us, histMinUS), histMaxUS)
	r.mu.Lock()
	_ = r.run.RecordValue(us)
	_ = r.second.RecordValue(us)
	r.count++
	if failed {
		r.errors++
	}
	r.mu.Unlock()
}

// takeSecond returns the p50 and p99 of the last second, in ms, and starts
// a new second. ok is false when the second saw no request.
func (r *recorder) takeSecond() (p50, p99 float64, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.second.TotalCount() == 0 {
		return 0, 0, false
	}
	p50 = float64(r.second.ValueAtQuantile(50)) / 1000
	p99 = float64(r.second.ValueAtQuantile(99)) / 1000
	r.second.Reset()
	return p50, p99, true
}

// latency summarises the run.
func (r *recorder) latency() Latency {
	r.mu.Lock()
	defer r.mu.Unlock()
	ms := func(q float64) float64 { return float64(r.run.ValueAtQuantile(q)) / 1000 }
	return Latency{
		Count: r.count, Errors: r.errors,
		P50: ms(50), P90: ms(90), P99: ms(99), P999: ms(99.9),
		Max: float64(r.run.Max()) / 1000,
	}
}

// countInversions returns the number of pairs i < j with s[i] > s[j], by
// merge sort in O(n log n). s is left unchanged.
func countInversions(s []int64) int64 {
	a := append([]int64(nil), s...)
	buf := make([]int64, len(a))
	var sortCount func(lo, hi int) int64
	sortCount = func(lo, hi int) int64 {
		if hi-lo < 2 {
			return 0
		}
		mid := (lo + hi) / 2
		n := sortCount(lo, mid) + sortCount(mid, hi)
		i, j, k := lo, mid, lo
		for i < mid && j < hi {
			if a[j] < a[i] {
				n += int64(mid - i) // a[j] is smaller than every a[i:mid]
				buf[k] = a[j]
				j++
			} else {
				buf[k] = a[i]
				i++
			}
			k++
		}
		k += copy(buf[k:], a[i:mid])
		copy(buf[k:], a[j:hi])
		copy(a[lo:hi], buf[lo:hi])
		return n
	}
	return sortCount(0, len(a))
}

// joinSpan is one admitted fan's join, for the fairness measure: when the
// join request was sent, when its answer came (ms from the start), and the
// sequence number the line gave it.
type joinSpan struct {
	start, end int32
	seq        int64
}

// definiteInversions counts the pairs of fans where a's join was answered
// before b's was sent, yet b got the earlier sequence number. Joins that
// overlapped in time have no defined order (the server may take them either
// way), so they are never counted. O(n log n): a Fenwick tree over sequence
// ranks, fed in order of answer time, queried in order of send time.
func definiteInversions(spans []joinSpan) int64 {
	n := len(spans)
	if n < 2 {
		return 0
	}
	seqs := make([]int64, n)
	for i, s := range spans {
		seqs[i] = s.seq
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	rank := func(v int64) int { return sort.Search(n, func(i int) bool { return seqs[i] >= v }) }
	byEnd := make([]int, n)
	byStart := make([]int, n)
	for i := range byEnd {
		byEnd[i], byStart[i] = i, i
	}
	sort.Slice(byEnd, func(i, j int) bool { return spans[byEnd[i]].end < spans[byEnd[j]].end })
	sort.Slice(byStart, func(i, j int) bool { return spans[byStart[i]].start < spans[byStart[j]].start })
	tree := make([]int64, n+1)
	inserted := int64(0)
	var inv int64
	e := 0
	for _, b := range byStart {
		for e < n && spans[byEnd[e]].end < spans[b].start {
			for i := rank(spans[byEnd[e]].seq) + 1; i <= n; i += i & -i {
				tree[i]++
			}
			inserted++
			e++
		}
		// inserted fans with a sequence ≤ b's are in order.
		var le int64
		for i := rank(spans[b].seq + 1); i > 0; i -= i & -i {
			le += tree[i]
		}
		inv += inserted - le
	}
	return inv
}

// kendallTau normalises an inversion count over n items to [0, 1].
func kendallTau(inversions int64, n int) float64 {
	if n < 2 {
		return 0
	}
	return float64(inversions) / (float64(n) * float64(n-1) / 2)
}

// etaError is the relative error of an estimate of est seconds shown when
// the real remaining wait was real seconds. ok is false when real < 1 s,
// where the ratio says nothing.
func etaError(est, real float64) (float64, bool) {
	if real < 1 {
		return 0, false
	}
	return math.Abs(est-real) / real, true
}

// quantile returns the q-quantile (0..1) of sorted values, nearest rank.
func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// servingObs are the serving counter values seen in one second of the run:
// the smallest and the largest, each with its time (ms from the start).
type servingObs struct {
	lo, hi     int64
	loAt, hiAt int32
	seen       bool
	tail       int64 // the highest sequence number a join answered in this second
}

// timeline estimates the line's serving counter over time from the values
// status documents carried: the counter is what the deployment admitted,
// read far more often than any one fan polls.
type timeline []servingObs

// observe records the counter value v seen at ms.
func (tl timeline) observe(ms int32, v int64) {
	s := int(ms / 1000)
	if s < 0 || s >= len(tl) {
		return
	}
	o := &tl[s]
	if !o.seen {
		tail := o.tail
		*o = servingObs{lo: v, hi: v, loAt: ms, hiAt: ms, seen: true, tail: tail}
		return
	}
	if v < o.lo {
		o.lo, o.loAt = v, ms
	}
	if v > o.hi {
		o.hi, o.hiAt = v, ms
	}
}

// observeTail records that a join answered at ms handed out sequence seq.
func (tl timeline) observeTail(ms int32, seq int64) {
	if s := int(ms / 1000); s >= 0 && s < len(tl) {
		tl[s].tail = max(tl[s].tail, seq)
	}
}

// tails returns, for each second boundary s < n, the highest sequence
// number handed out before it: a lower bound of the line's tail.
func (tl timeline) tails(n int) []float64 {
	out := make([]float64, n)
	var m int64
	for s := 1; s < n; s++ {
		if s-1 < len(tl) {
			m = max(m, tl[s-1].tail)
		}
		out[s] = float64(m)
	}
	return out
}

// at estimates the counter at second boundary sec: linear between the last
// value seen before it and the first after it. ok is false without values
// on both sides within 5 s.
func (tl timeline) at(sec int) (float64, bool) {
	var before, after *servingObs
	for s := sec - 1; s >= 0 && s >= sec-5; s-- {
		if s < len(tl) && tl[s].seen {
			before = &tl[s]
			break
		}
	}
	for s := sec; s < len(tl) && s < sec+5; s++ {
		if tl[s].seen {
			after = &tl[s]
			break
		}
	}
	if before == nil || after == nil {
		return 0, false
	}
	t0, v0 := float64(before.hiAt), float64(before.hi)
	t1, v1 := float64(after.loAt), float64(after.lo)
	if t1 <= t0 {
		return v1, true
	}
	b := float64(sec * 1000)
	return v0 + (v1-v0)*(b-t0)/(t1-t0), true
}

// reached estimates when (ms) the counter first reached seq, from the
// boundary estimates; ok is false when it cannot tell.
func (tl timeline) reached(seq int64, bounds []float64, known []bool) (int32, bool) {
	prev := -1
	for s := range bounds {
		if !known[s] {
			continue
		}
		if bounds[s] >= float64(seq) {
			if prev < 0 {
				return int32(s * 1000), true
			}
			v0, v1 := bounds[prev], bounds[s]
			frac := 1.0
			if v1 > v0 {
				frac = (float64(seq) - v0) / (v1 - v0)
			}
			return int32(float64(prev*1000) + frac*float64((s-prev)*1000)), true
		}
		prev = s
	}
	return 0, false
}

// rateWindows cuts the admitting period into 10-second windows and measures
// each: admitted = the serving counter's growth across it. A window counts
// (Window.Counted) only when, at every second of it, fans were waiting and
// the serving counter was short of the line's tail (the highest sequence
// handed out): the line never ran dry, so the deployment was free to admit
// at its rate. The second test matters at the end of a line, where the last
// fans still poll after the server has let them in.
func rateWindows(bounds []float64, known []bool, tails []float64, waiting []int64, rate float64) []Window {
	const w = 10
	var out []Window
	first := -1
	for s, n := range waiting {
		if n > 0 {
			first = s
			break
		}
	}
	if first < 0 {
		return nil
	}
	for s := first; s+w < len(waiting) && s+w < len(bounds); s += w {
		counted := known[s] && known[s+w]
		for i := s; i <= s+w && counted; i++ {
			counted = waiting[i] > 0 && (!known[i] || i >= len(tails) || bounds[i] < tails[i]-0.5)
		}
		if !known[s] || !known[s+w] {
			continue
		}
		adm := bounds[s+w] - bounds[s]
		win := Window{StartSeconds: float64(s), Admitted: int(math.Round(adm)), Expected: rate * w, Counted: counted}
		if win.Expected > 0 {
			win.Error = math.Abs(adm-win.Expected) / win.Expected
		}
		out = append(out, win)
	}
	return out
}
