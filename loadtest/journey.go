package loadtest

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
)

// Fan states: the action a fan takes next.
const (
	stJoin   uint8 = iota // arrive and join the line
	stWait                // poll the status
	stVenue               // load the venue map
	stHold                // hold seats
	stDecide              // confirm, release or walk away
	stDone                // the journey is over
)

// Fan flags.
const (
	fJoined uint8 = 1 << iota
	fAdmitted
	fAdmittedAtJoin
	fAbandoned
	fFailed
)

// etaSlots bounds the estimates kept per fan. When they are full every
// other one is dropped and the fan keeps one poll in two from then on, so
// the kept estimates still span the whole wait; each stands for etaStride
// polls when errors are summarised.
const etaSlots = 6

// etaSample is the wait estimate (seconds) a fan was shown at ms.
type etaSample struct {
	at  int32
	est int32
}

// fan is one virtual fan: about 100 bytes plus its ticket while waiting.
// Times are ms from the start of the run.
type fan struct {
	ticket    string
	seq       int64 // the fan's sequence number: serving + position at join
	joinStart int32 // when the join that succeeded was sent
	joinEnd   int32 // when its answer came
	lastMs    int32 // the last answer
	admitMs   int32 // the first answer that said admitted
	eta       [etaSlots]etaSample
	etaN      uint8
	etaStride uint8
	polls     uint16
	state     uint8
	flags     uint8
	tries     uint8
	seat      *seatJourney // while admitted and choosing seats
}

// seatJourney is an admitted fan's seating state, dropped when it ends.
type seatJourney struct {
	token   string
	holdID  string
	seats   []string
	retried bool
	confirm bool
}

// statusDoc is the part of the status document the fans read.
type statusDoc struct {
	State          string  `json:"state"`
	Serving        int64   `json:"serving"`
	Position       int64   `json:"position"`
	EtaKnown       bool    `json:"eta_known"`
	EtaSeconds     float64 `json:"eta_seconds"`
	RefreshAfterMS int64   `json:"refresh_after_ms"`
	Ticket         string  `json:"ticket"`
	AdmissionToken string  `json:"admission_token"`
}

func ms(ns int64) int32 { return int32(ns / int64(time.Millisecond)) }

// step runs fan j.fan's due action.
func (e *engine) step(w *worker, j job) {
	f := &e.fans[j.fan]
	switch f.state {
	case stJoin:
		e.join(w, j, f)
	case stWait:
		e.poll(w, j, f)
	case stVenue:
		e.loadVenue(w, j, f)
	case stHold:
		e.hold(w, j, f)
	case stDecide:
		e.decide(w, j, f)
	}
}

// visitorID makes retried joins of one fan idempotent (Foyer-Visitor).
// It includes the run's random id: a deployment keeps a visitor's place, so
// a second run reusing ids would find its fans already served.
func (e *engine) visitorID(fan int32) string {
	return fmt.Sprintf("lt%s%08x", e.runID, uint32(fan))
}

// retry schedules f's action again after d, or ends the journey as failed
// after three tries.
func (e *engine) retry(j job, f *fan, d time.Duration) {
	f.tries++
	if f.tries >= 3 {
		if f.flags&fJoined != 0 && f.flags&fAdmitted == 0 {
			e.waiting.Add(-1)
		}
		f.flags |= fFailed
		e.failed.Add(1)
		e.finish(f)
		return
	}
	e.sched.schedule(j.fan, e.sched.now()+int64(d))
}

func (e *engine) join(w *worker, j job, f *fan) {
	if f.tries == 0 {
		e.arrived.Add(1)
	}
	sent := e.sched.now()
	w.req.Reset()
	w.req.Header.SetMethod("POST")
	w.req.SetRequestURI(e.joinURL)
	w.req.Header.Set("Accept", "application/json")
	w.req.Header.Set("Foyer-Visitor", e.visitorID(j.fan))
	status := e.do(w, epJoin, j.at)
	end := e.sched.now()
	switch {
	case status == 0 || status >= 500 || status == 429:
		d := time.Second
		if s, err := strconv.Atoi(string(w.resp.Header.Peek("Retry-After"))); err == nil && s > 0 {
			d = time.Duration(s) * time.Second
		}
		e.retry(j, f, d)
		return
	case status != 200:
		e.fail(f, "join_refused")
		return
	}
	var doc statusDoc
	if err := json.Unmarshal(w.resp.Body(), &doc); err != nil || doc.Ticket == "" {
		e.fail(f, "bad_status_document")
		return
	}
	f.tries = 0
	f.flags |= fJoined
	f.joinStart, f.joinEnd, f.lastMs = ms(sent), ms(end)+1, ms(end)
	e.joined.Add(1)
	if doc.State == "admitted" {
		e.observeServing(ms(end), doc.Serving, 0)
		// Admitted at once: the line was empty, so the fan's sequence is at
		// most serving; serving is the bound that still exposes a late fan
		// let in ahead of earlier ones still waiting.
		f.seq = doc.Serving
		f.flags |= fAdmittedAtJoin
		e.admit(j, f, &doc, ms(end))
		return
	}
	f.ticket = doc.Ticket
	f.seq = doc.Serving + doc.Position
	e.observeServing(ms(end), doc.Serving, f.seq)
	f.state = stWait
	e.waiting.Add(1)
	e.noteETA(f, &doc, ms(end))
	e.sched.schedule(j.fan, end+e.pollDelay(w, &doc))
}

// pollDelay is refresh_after_ms (5 s when absent, as for an unknown wait)
// with the client's jitter.
func (e *engine) pollDelay(w *worker, doc *statusDoc) int64 {
	d := float64(doc.RefreshAfterMS) * float64(time.Millisecond)
	if d <= 0 {
		d = float64(5 * time.Second)
	}
	if jit := e.cfg.PollJitter; jit > 0 {
		d *= 1 + jit*(2*w.rng.Float64()-1)
	}
	return int64(d)
}

// noteETA keeps the estimate shown at ms.
func (e *engine) noteETA(f *fan, doc *statusDoc, at int32) {
	defer func() { f.polls++ }()
	if f.etaStride == 0 {
		f.etaStride = 1
	}
	if !doc.EtaKnown || f.polls%uint16(f.etaStride) != 0 {
		return
	}
	if f.etaN == etaSlots {
		for i := 0; i < etaSlots/2; i++ {
			f.eta[i] = f.eta[2*i]
		}
		f.etaN = etaSlots / 2
		if f.etaStride < 128 {
			f.etaStride *= 2
		}
		if f.polls%uint16(f.etaStride) != 0 {
			return
		}
	}
	f.eta[f.etaN] = etaSample{at: at, est: int32(min(doc.EtaSeconds, math.MaxInt32))}
	f.etaN++
}

func (e *engine) poll(w *worker, j job, f *fan) {
	now := e.sched.now()
	if p := e.cfg.AbandonProbability; p > 0 {
		minutes := float64(ms(now)-f.lastMs) / 60000
		if w.rng.Float64() < 1-math.Pow(1-p, minutes) {
			f.flags |= fAbandoned
			f.ticket = ""
			e.waiting.Add(-1)
			e.abandoned.Add(1)
			e.finish(f)
			return
		}
	}
	w.req.Reset()
	w.req.SetRequestURI(e.statusURL)
	w.req.Header.Set("Accept", "application/json")
	w.req.Header.Set("Foyer-Ticket", f.ticket)
	status := e.do(w, epStatus, j.at)
	end := e.sched.now()
	if status != 200 {
		if status == 0 || status >= 500 {
			// The place is kept; poll again as a browser's page would.
			e.sched.schedule(j.fan, end+int64(2*time.Second))
			return
		}
		e.waiting.Add(-1)
		e.fail(f, "status_refused")
		return
	}
	var doc statusDoc
	if err := json.Unmarshal(w.resp.Body(), &doc); err != nil {
		e.countError("bad_status_document")
		e.sched.schedule(j.fan, end+int64(2*time.Second))
		return
	}
	f.lastMs = ms(end)
	e.observeServing(ms(end), doc.Serving, 0)
	if doc.State == "admitted" {
		if doc.Serving < f.seq {
			e.outOfTurn.Add(1)
		}
		f.ticket = ""
		e.waiting.Add(-1)
		e.admit(j, f, &doc, ms(end))
		return
	}
	e.noteETA(f, &doc, ms(end))
	e.sched.schedule(j.fan, end+e.pollDelay(w, &doc))
}

// fail ends f's journey on an error of kind.
func (e *engine) fail(f *fan, kind string) {
	e.countError(kind)
	f.flags |= fFailed
	f.ticket = ""
	e.failed.Add(1)
	e.finish(f)
}

// admit records f's admission at ms and starts its seating journey.
func (e *engine) admit(j job, f *fan, doc *statusDoc, at int32) {
	f.flags |= fAdmitted
	f.admitMs = at
	f.tries = 0
	e.admitted.Add(1)
	if doc.AdmissionToken == "" {
		e.countError("no_admission_token")
	}
	if e.venueState.Load() == venueAbsent || doc.AdmissionToken == "" {
		e.finish(f)
		return
	}
	f.seat = &seatJourney{token: doc.AdmissionToken}
	f.state = stVenue
	e.sched.schedule(j.fan, e.sched.now())
}
