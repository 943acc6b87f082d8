package proxy

import (
	"math"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/foyerhq/foyer/queue"
)

// The estimate of a fan's wait is their position divided by the admission
// rate. The rate is the rate observed in the serving counter, smoothed, not
// the rate admission asks for: caps on active sessions, abandoned turns and
// a slow origin all make the two differ, and only the observed one tells a
// fan how fast the line really moves.
const (
	// estimateHorizon is the time constant of the smoothed observed rate:
	// long enough that one slow refresh does not move the estimate, short
	// enough that a real change shows within about a minute.
	estimateHorizon = 45 * time.Second
	// recentHorizon is the time constant of the rate's recent level, which
	// the smoothed rate is compared with to tell fans the rate fell.
	recentHorizon = 5 * time.Minute
	// estimateSample is the least span of one sample of the rate. The
	// counter is read every 100 ms, when a slow line advances by 0 or 1, so
	// a sample also waits for sampleAdmissions admissions, up to
	// estimateMaxSample: counting whole visitors makes the rate of a short
	// sample grainy, and the grain would read as an unsteady rate.
	estimateSample    = time.Second
	estimateMaxSample = 10 * time.Second
	sampleAdmissions  = 20
	// Until the smoothed rate has estimateMinData seconds of samples, the
	// estimate uses the rate in force; from there it shifts linearly to the
	// observed rate, which it uses alone from estimateFullData on, so that
	// the estimate does not leap when the first data arrive.
	estimateMinData  = 5 * time.Second
	estimateFullData = 15 * time.Second
	// estimateMaxWait is the longest wait given as an estimate; beyond it
	// the wait is unknown.
	estimateMaxWait = 7 * 24 * time.Hour

	// fallbackSpread is the relative half-width of the range around the
	// rate in force while there is too little data: the wait may be
	// anywhere from 2/3 to twice the estimate.
	fallbackSpread = 0.5
	// minSpread and maxSpread bound the relative half-width of the rate's
	// range: no estimate is exact, and a range wider than ×5 says nothing.
	minSpread = 0.05
	maxSpread = 0.8
	// spreadZ is the number of standard deviations of the range: about 90 %
	// of waits should end inside it when the rate is steady.
	spreadZ = 1.645
	// fallingRatio is how far the smoothed rate must fall below its recent
	// level to be told to fans as a lowered rate.
	fallingRatio = 0.8
)

// decayed is an exponentially decayed mean and variance of samples weighted
// by their length in seconds.
type decayed struct {
	w   float64 // sum of weights: seconds of data, at most about the horizon
	wr  float64 // sum of weighted rates
	wr2 float64 // sum of weighted squared rates
	w2  float64 // sum of squared weights, for the effective number of samples
	n   float64 // number of samples, decayed likewise
}

func (d *decayed) decay(f float64) {
	d.w, d.wr, d.wr2, d.w2, d.n = d.w*f, d.wr*f, d.wr2*f, d.w2*f*f, d.n*f
}

func (d *decayed) add(r, dt float64) {
	d.w += dt
	d.wr += dt * r
	d.wr2 += dt * r * r
	d.w2 += dt * dt
	d.n++
}

func (d *decayed) mean() float64 {
	if d.w == 0 {
		return 0
	}
	return d.wr / d.w
}

func (d *decayed) variance() float64 {
	if d.w == 0 {
		return 0
	}
	m := d.mean()
	return max(0, d.wr2/d.w-m*m)
}

// samples is the effective number of samples behind the mean (Kish):
// fewer than the samples taken, since older ones weigh less.
func (d *decayed) samples() float64 {
	if d.w2 == 0 {
		return 0
	}
	return d.w * d.w / d.w2
}

// rateSnapshot is what status polls read of the estimator: precomputed at
// each sample so that a poll costs a pointer load and a few float
// operations.
type rateSnapshot struct {
	weight    float64 // share of the observed rate in the estimate, 0 to 1
	rate      float64 // the smoothed observed rate, visitors per second
	sampleVar float64 // variance of one sample's rate
	meanVar   float64 // variance of the smoothed rate itself
	sampleDt  float64 // mean length of a sample, seconds
	falling   bool    // the smoothed rate is well below its recent level
}

// estimator smooths the observed admission rate of one line.
//
// observe must be called with each state of the line, serialised by the
// caller (event.observe holds event.mu); estimate and falling may be called
// concurrently with it and with each other. The zero value is ready to use
// and estimates from the rate in force until it has seen enough of the line.
type estimator struct {
	// learnt is guarded by the caller's lock (event.mu).
	learnt learnt
	snap   atomic.Pointer[rateSnapshot]
}

// learnt is what an estimator knows of one epoch of the line.
type learnt struct {
	epoch      uint64
	anchor     queue.State // start of the current sample
	anchored   bool
	lastSample time.Time // end of the previous sample, for decay over gaps
	fast, slow decayed
}

// running reports whether the serving counter of s moves at the rate, so
// that a sample of it measures the rate: not while paused, sold out or
// before the draw, and not when nobody is waiting (the counter then stops
// at the tail, whatever the rate).
func running(s queue.State) bool {
	return !s.Control.Paused && !s.Control.SoldOut && !s.Prequeue && s.Waiting() > 0
}

// admitted is how many visitors had their turn while the serving counter of
// s went from a to b: with lanes, numbers a lane left unissued are skipped
// by the counter and admit nobody, and positions do not count them either.
func admitted(s queue.State, a, b uint64) uint64 {
	if s.Lanes != nil {
		return s.Lanes.Filled(a, b)
	}
	return b - a
}

// observe takes the line's state as cached after a refresh or a join. A
// sample is the serving counter's advance over at least estimateSample of
// the store's clock, taken only while the line ran throughout.
func (e *estimator) observe(s queue.State) {
	if s.Epoch != e.learnt.epoch {
		// A new line: what was learnt of the old one does not apply.
		e.learnt = learnt{epoch: s.Epoch}
		e.snap.Store(nil)
	}
	e.learnt.observe(s, &e.snap)
}

// observe is estimator.observe within one epoch; it publishes a new
// snapshot to out after each sample.
func (e *learnt) observe(s queue.State, out *atomic.Pointer[rateSnapshot]) {
	if !e.anchored || !running(e.anchor) || !running(s) || s.Serving < e.anchor.Serving {
		e.anchor, e.anchored = s, running(s)
		return
	}
	span := s.At.Sub(e.anchor.At)
	n := admitted(s, e.anchor.Serving, s.Serving)
	if span < estimateSample || (n < sampleAdmissions && span < estimateMaxSample) {
		return
	}
	dt := span.Seconds()
	r := float64(n) / dt
	e.anchor = s
	// Data fades with time, including time the line was not running.
	gap := dt
	if !e.lastSample.IsZero() {
		gap = max(dt, s.At.Sub(e.lastSample).Seconds())
	}
	e.lastSample = s.At
	e.fast.decay(math.Exp(-gap / estimateHorizon.Seconds()))
	e.slow.decay(math.Exp(-gap / recentHorizon.Seconds()))
	e.fast.add(r, dt)
	e.slow.add(r, dt)

	minData, fullData := estimateMinData.Seconds(), estimateFullData.Seconds()
	snap := &rateSnapshot{
		weight:    min(max((e.fast.w-minData)/(fullData-minData), 0), 1),
		rate:      e.fast.mean(),
		sampleVar: e.fast.variance(),
		meanVar:   e.fast.variance() / max(e.fast.samples(), 1),
		sampleDt:  e.fast.w / max(e.fast.n, 1),
	}
	snap.falling = e.fast.w >= fullData && e.slow.w >= 2*fullData && snap.rate < fallingRatio*e.slow.mean()
	out.Store(snap)
}

// falling reports whether the observed rate fell well below its recent
// level: the fans' estimates grew because admission slowed down.
func (e *estimator) falling() bool {
	s := e.snap.Load()
	return s != nil && s.falling
}

// waitEstimate is the estimated wait of one position.
type waitEstimate struct {
	Known bool
	// Wait is the estimate; Low and High bound the range the wait should
	// fall in, from the rate's variability and the amount of data.
	Wait, Low, High time.Duration
	// Observed reports that the estimate comes from the observed rate
	// alone, not (even partly) from the rate in force.
	Observed bool
}

// estimate is the wait of the visitor at position (1 = next) of line s.
// There is none while admission is paused or stopped, and none before the
// pre-queue is drawn: the wait then depends on decisions not yet made.
func (e *estimator) estimate(s queue.State, position uint64) waitEstimate {
	inForce := policyOf(s).Effective()
	if inForce == 0 || s.Control.SoldOut || s.Prequeue || position == 0 {
		return waitEstimate{}
	}
	rate, spread := inForce, fallbackSpread
	snap := e.snap.Load()
	if snap != nil && snap.weight > 0 {
		// A rate lowered by the operator or the controller applies at once;
		// a raised one shows as the observed rate follows it.
		observed := min(snap.rate, inForce)
		rate = snap.weight*observed + (1-snap.weight)*inForce
		if rate <= 0 {
			return waitEstimate{}
		}
		// The wait averages the rate over its whole length, so a long wait
		// is less sensitive to one sample's noise than to the error of the
		// mean itself.
		wait := float64(position) / rate
		v := snap.meanVar + snap.sampleVar*snap.sampleDt/max(wait, snap.sampleDt)
		obsSpread := min(max(spreadZ*math.Sqrt(v)/rate, minSpread), maxSpread)
		spread = snap.weight*obsSpread + (1-snap.weight)*fallbackSpread
	}
	wait := float64(position) / rate
	if wait > estimateMaxWait.Seconds() {
		return waitEstimate{}
	}
	sec := func(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
	return waitEstimate{
		Known:    true,
		Wait:     sec(wait),
		Low:      sec(wait / (1 + spread)),
		High:     sec(wait / (1 - spread)),
		Observed: snap != nil && snap.weight == 1,
	}
}

// appendETA appends the estimate fields of the status document.
func appendETA(dst []byte, w waitEstimate) []byte {
	dst = append(dst, `,"eta_known":`...)
	dst = strconv.AppendBool(dst, w.Known)
	if !w.Known {
		return dst
	}
	dst = append(dst, `,"eta_seconds":`...)
	dst = strconv.AppendInt(dst, int64((w.Wait+time.Second-1)/time.Second), 10)
	dst = append(dst, `,"eta_low_seconds":`...)
	dst = strconv.AppendInt(dst, int64(w.Low/time.Second), 10)
	dst = append(dst, `,"eta_high_seconds":`...)
	return strconv.AppendInt(dst, int64((w.High+time.Second-1)/time.Second), 10)
}
