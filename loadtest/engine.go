package loadtest

import (
	"context"
	cryptorand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// engine is one run. Fans are owned by the worker running their action:
// the scheduler hands out one action per fan at a time, so a fan's fields
// need no lock. Shared tallies are atomic or guarded as noted.
type engine struct {
	cfg      Config
	runID    string // random, 16 hex digits: makes the fans' visitor ids unique to the run
	client   *fasthttp.Client
	sched    *scheduler
	arrivals []time.Duration
	fans     []fan
	rec      [numEndpoints]*recorder

	joinURL, statusURL, venueURL, holdsURL string

	arrived, joined, waiting, admitted, abandoned, failed  atomic.Int64
	finished, requests, conflicts, holdsExpired, outOfTurn atomic.Int64
	soldSeats                                              atomic.Int64
	doneOnce                                               sync.Once
	done                                                   chan struct{}

	errMu sync.Mutex // guards errs
	errs  map[string]int64

	tlMu sync.Mutex // guards tl
	tl   timeline

	venueState atomic.Int32 // venueNone, venueLoading, venueReady, venueAbsent
	venue      *venueMap    // set before venueState becomes venueReady
	venueETag  string       // set with venue
	skipMu     sync.Mutex   // guards seatingSkipped
	skipped    string

	soldMu   sync.Mutex       // guards soldTo and oversold
	soldTo   map[string]int32 // seat id → the fan it was confirmed to; −1 once oversold
	oversold int

	seriesMu sync.Mutex // guards series and waitingAt
	series   []Point
	// waitingAt[s] is the number of fans waiting at second s of the run.
	waitingAt []int64
}

// Venue loading states.
const (
	venueNone int32 = iota
	venueLoading
	venueReady
	venueAbsent
)

// Run runs a load test and returns what it measured. It writes a progress
// line every second to progress (rewritten in place with \r when progress
// is a terminal; one line a second otherwise); progress may be nil. Run
// returns when every fan's journey has ended, when cfg.Duration has passed
// (requests in flight then get up to RequestTimeout to finish) or when ctx
// is done; in the last case it returns the partial result with an error.
func Run(ctx context.Context, cfg Config, progress io.Writer) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	arrivals, err := cfg.arrivals(rand.New(rand.NewPCG(cfg.Seed, 0xa77)))
	if err != nil {
		return nil, err
	}
	if cfg.Arrival == ArrivalCSV && cfg.Fans > 0 && cfg.Fans < len(arrivals) {
		arrivals = arrivals[:cfg.Fans]
	}
	e := newEngine(cfg, arrivals)
	start := time.Now()
	e.sched = newScheduler(start, arrivals)

	runCtx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	jobs := make(chan job, cfg.MaxConns)
	var schedDone, workersDone, samplerDone sync.WaitGroup
	schedDone.Go(func() { e.sched.run(runCtx, jobs) })
	for i := range cfg.MaxConns {
		workersDone.Go(func() { e.work(runCtx, jobs, uint64(i)) })
	}
	samplerCtx, stopSampler := context.WithCancel(context.Background())
	samplerDone.Go(func() { e.sample(samplerCtx, start, progress) })

	if len(arrivals) == 0 {
		e.doneOnce.Do(func() { close(e.done) })
	}
	select {
	case <-e.done:
	case <-runCtx.Done():
	}
	cancel()
	schedDone.Wait()
	close(jobs)
	workersDone.Wait()
	stopSampler()
	samplerDone.Wait()

	r := e.result(time.Since(start))
	if err := ctx.Err(); err != nil {
		return r, fmt.Errorf("loadtest: run interrupted: %w", err)
	}
	return r, nil
}

func newEngine(cfg Config, arrivals []time.Duration) *engine {
	var id [8]byte
	_, _ = cryptorand.Read(id[:]) // never fails (crypto/rand)
	e := &engine{
		cfg:      cfg,
		runID:    hex.EncodeToString(id[:]),
		arrivals: arrivals,
		fans:     make([]fan, len(arrivals)),
		done:     make(chan struct{}),
		errs:     map[string]int64{},
		soldTo:   map[string]int32{},
		client: &fasthttp.Client{
			Name:                "foyer-loadtest",
			MaxConnsPerHost:     cfg.MaxConns,
			MaxConnWaitTimeout:  cfg.RequestTimeout,
			ReadTimeout:         cfg.RequestTimeout,
			WriteTimeout:        cfg.RequestTimeout,
			MaxIdleConnDuration: time.Minute,
			ReadBufferSize:      16 << 10,
			Dial: func(addr string) (net.Conn, error) {
				return fasthttp.DialTimeout(addr, cfg.RequestTimeout)
			},
		},
		joinURL:   cfg.Target + "/_foyer/v1/events/" + cfg.Event + "/join",
		statusURL: cfg.Target + "/_foyer/v1/events/" + cfg.Event + "/status",
		venueURL:  cfg.SeatingTarget + "/seating/v1/events/" + cfg.Event + "/venue",
		holdsURL:  cfg.SeatingTarget + "/seating/v1/events/" + cfg.Event + "/holds",
	}
	for i := range e.rec {
		e.rec[i] = newRecorder()
	}
	secs := int((cfg.Duration+cfg.RequestTimeout)/time.Second) + 2
	e.tl = make(timeline, secs)
	if cfg.SeatingDisabled {
		e.venueState.Store(venueAbsent)
		e.skipped = "disabled"
	}
	return e
}

// worker holds one worker's reusable request state and random source.
type worker struct {
	rng  *rand.Rand
	req  *fasthttp.Request
	resp *fasthttp.Response
}

// work runs the actions handed out by the scheduler until jobs is closed.
// Actions still queued when the run ends are dropped.
func (e *engine) work(ctx context.Context, jobs <-chan job, id uint64) {
	w := &worker{
		rng:  rand.New(rand.NewPCG(e.cfg.Seed, id+1)),
		req:  fasthttp.AcquireRequest(),
		resp: fasthttp.AcquireResponse(),
	}
	defer fasthttp.ReleaseRequest(w.req)
	defer fasthttp.ReleaseResponse(w.resp)
	for j := range jobs {
		if ctx.Err() != nil {
			continue
		}
		e.step(w, j)
	}
}

// do sends w.req (prepared by the caller) and records its latency from due,
// the time the action was scheduled for, so time spent queued for a worker
// or a connection counts. It returns the status, 0 on a transport error,
// whose kind it counts. Answers with status 400 and above but 404 and 409,
// which callers judge, are counted as errors here.
func (e *engine) do(w *worker, ep endpoint, due int64) int {
	w.resp.Reset()
	e.requests.Add(1)
	err := e.client.DoDeadline(w.req, w.resp, time.Now().Add(e.cfg.RequestTimeout))
	lat := time.Duration(e.sched.now() - due)
	status := 0
	kind := ""
	switch {
	case err != nil:
		kind = errorKind(err)
	case w.resp.StatusCode() >= 500:
		status, kind = w.resp.StatusCode(), "http_5xx"
	case w.resp.StatusCode() >= 400 && w.resp.StatusCode() != 404 && w.resp.StatusCode() != 409:
		status, kind = w.resp.StatusCode(), "http_4xx"
	default:
		status = w.resp.StatusCode()
	}
	e.rec[ep].record(lat, kind != "")
	if kind != "" {
		e.countError(kind)
	}
	return status
}

// errorKind names a transport error for Result.Errors.
func errorKind(err error) string {
	var netErr net.Error
	switch {
	case errors.Is(err, fasthttp.ErrTimeout), errors.Is(err, fasthttp.ErrDialTimeout),
		errors.As(err, &netErr) && netErr.Timeout():
		return "timeout"
	case errors.Is(err, fasthttp.ErrNoFreeConns), errors.Is(err, fasthttp.ErrConnPoolStrategyNotImpl):
		return "no_free_conns"
	case errors.Is(err, fasthttp.ErrConnectionClosed):
		return "connection_closed"
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		return "connect"
	}
	return "transport"
}

func (e *engine) countError(kind string) {
	e.errMu.Lock()
	e.errs[kind]++
	e.errMu.Unlock()
}

// observeServing records a serving counter value seen at ms, and the
// sequence number a join handed out (0 for a poll).
func (e *engine) observeServing(ms int32, v, seq int64) {
	e.tlMu.Lock()
	e.tl.observe(ms, v)
	if seq > 0 {
		e.tl.observeTail(ms, seq)
	}
	e.tlMu.Unlock()
}

// sample takes one point of the series every second of the run and writes
// the progress line, until ctx is done; then it takes a last point.
func (e *engine) sample(ctx context.Context, start time.Time, progress io.Writer) {
	terminal := false
	if f, ok := progress.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			terminal = true
		}
	}
	e.seriesMu.Lock()
	e.waitingAt = append(e.waitingAt, 0)
	e.seriesMu.Unlock()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var lastAdmitted, lastRequests int64
	for sec := 1; ; sec++ {
		stop := false
		select {
		case <-tick.C:
		case <-ctx.Done():
			stop = true
		}
		p := Point{
			Seconds:        time.Since(start).Seconds(),
			Waiting:        int(e.waiting.Load()),
			ConfiguredRate: e.cfg.ConfiguredRate,
			LatencyP50MS:   map[string]float64{},
			LatencyP99MS:   map[string]float64{},
		}
		adm, reqs := e.admitted.Load(), e.requests.Load()
		p.AdmittedPerSec, p.RequestsPerSec = float64(adm-lastAdmitted), float64(reqs-lastRequests)
		lastAdmitted, lastRequests = adm, reqs
		for i, r := range e.rec {
			if p50, p99, ok := r.takeSecond(); ok {
				p.LatencyP50MS[endpointNames[i]] = p50
				p.LatencyP99MS[endpointNames[i]] = p99
			}
		}
		e.seriesMu.Lock()
		e.series = append(e.series, p)
		e.waitingAt = append(e.waitingAt, int64(p.Waiting))
		e.seriesMu.Unlock()
		if progress != nil {
			line := fmt.Sprintf("%4ds arrived %d joined %d waiting %d admitted %d sold %d | %.0f req/s | status p99 %.1f ms",
				sec, e.arrived.Load(), e.joined.Load(), p.Waiting, adm, e.soldSeats.Load(),
				p.RequestsPerSec, p.LatencyP99MS["status"])
			if terminal {
				fmt.Fprintf(progress, "\r%-110s", line)
				if stop {
					fmt.Fprintln(progress)
				}
			} else {
				fmt.Fprintln(progress, line)
			}
		}
		if stop {
			return
		}
	}
}

// finish ends fan's journey.
func (e *engine) finish(f *fan) {
	f.state = stDone
	f.seat = nil
	if e.finished.Add(1) == int64(len(e.fans)) {
		e.doneOnce.Do(func() { close(e.done) })
	}
}
