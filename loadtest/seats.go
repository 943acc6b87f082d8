package loadtest

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"
)

// hotSeats is the size of the hot set at the front of the first stand.
const hotSeats = 16

// venueMap is the part of the venue the fans choose seats from.
type venueMap struct {
	tiers  []string
	stands []standMap
}

type standMap struct {
	id    string
	rows  [][]string // seats for sale, row by row
	tiers []int      // indexes of the tiers the stand sells
}

// venueDoc is the venue JSON (docs/seating.md).
type venueDoc struct {
	Tiers []struct {
		ID string `json:"id"`
	} `json:"tiers"`
	Stands []struct {
		ID   string `json:"id"`
		Rows []struct {
			Seats []struct {
				ID      string `json:"id"`
				Tier    int    `json:"t"`
				Blocked bool   `json:"b"`
			} `json:"seats"`
		} `json:"rows"`
	} `json:"stands"`
}

func parseVenue(body []byte) (*venueMap, error) {
	var doc venueDoc
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("loadtest: venue map: %w", err)
	}
	v := &venueMap{}
	for _, t := range doc.Tiers {
		v.tiers = append(v.tiers, t.ID)
	}
	for _, s := range doc.Stands {
		st := standMap{id: s.ID}
		seen := map[int]bool{}
		for _, r := range s.Rows {
			var row []string
			for _, seat := range r.Seats {
				if seat.Blocked {
					continue
				}
				row = append(row, seat.ID)
				if !seen[seat.Tier] && seat.Tier >= 0 && seat.Tier < len(v.tiers) {
					seen[seat.Tier] = true
					st.tiers = append(st.tiers, seat.Tier)
				}
			}
			if len(row) > 0 {
				st.rows = append(st.rows, row)
			}
		}
		if len(st.rows) > 0 {
			v.stands = append(v.stands, st)
		}
	}
	if len(v.stands) == 0 {
		return nil, fmt.Errorf("loadtest: venue map: no seat for sale")
	}
	return v, nil
}

// holdBody is a hold request: seats by id, or the best available.
type holdBody struct {
	Seats    []string `json:"seats,omitempty"`
	Stand    string   `json:"stand,omitempty"`
	Tier     string   `json:"tier,omitempty"`
	Quantity int      `json:"quantity,omitempty"`
}

// pick chooses what a fan asks for. retry is true after a conflict: the
// fan then looks elsewhere.
func (v *venueMap) pick(rng *rand.Rand, pref string, n int, retry bool) holdBody {
	if pref == SeatsBest {
		st := &v.stands[rng.IntN(len(v.stands))]
		b := holdBody{Stand: st.id, Quantity: n}
		if len(st.tiers) > 0 {
			b.Tier = v.tiers[st.tiers[rng.IntN(len(st.tiers))]]
		}
		return b
	}
	if pref == SeatsHot && !retry && rng.Float64() < 0.8 {
		row := v.stands[0].rows[0]
		hot := min(len(row), hotSeats)
		if hot >= n {
			s := rng.IntN(hot - n + 1)
			return holdBody{Seats: append([]string(nil), row[s:s+n]...)}
		}
	}
	for range 8 {
		st := &v.stands[rng.IntN(len(v.stands))]
		row := st.rows[rng.IntN(len(st.rows))]
		if len(row) >= n {
			s := rng.IntN(len(row) - n + 1)
			return holdBody{Seats: append([]string(nil), row[s:s+n]...)}
		}
	}
	st := &v.stands[0]
	return holdBody{Seats: append([]string(nil), st.rows[0][:min(n, len(st.rows[0]))]...)}
}

// setSeatingRequest prepares an authorised seating request.
func (e *engine) setSeatingRequest(w *worker, f *fan, method, uri string) {
	w.req.Reset()
	w.req.Header.SetMethod(method)
	w.req.SetRequestURI(uri)
	w.req.Header.Set("Accept", "application/json")
	w.req.Header.Set("Authorization", "Bearer "+f.seat.token)
}

// loadVenue gets the venue map: the first admitted fan loads it for the
// run, the others wait for it (and revalidate their own copy if asked).
func (e *engine) loadVenue(w *worker, j job, f *fan) {
	switch e.venueState.Load() {
	case venueAbsent:
		e.finish(f)
		return
	case venueLoading:
		e.sched.schedule(j.fan, e.sched.now()+int64(50*time.Millisecond))
		return
	case venueReady:
		if e.cfg.RevalidateVenue {
			e.setSeatingRequest(w, f, "GET", e.venueURL)
			w.req.Header.Set("Accept-Encoding", "gzip")
			w.req.Header.Set("If-None-Match", e.venueETag)
			e.do(w, epVenue, j.at)
			j.at = e.sched.now()
		}
		f.state = stHold
		e.hold(w, j, f)
		return
	}
	if !e.venueState.CompareAndSwap(venueNone, venueLoading) {
		e.sched.schedule(j.fan, e.sched.now()+int64(50*time.Millisecond))
		return
	}
	// The map needs no token, but a proxy in front of the seating service
	// lets only admitted requests through.
	e.setSeatingRequest(w, f, "GET", e.venueURL)
	w.req.Header.Set("Accept-Encoding", "gzip")
	status := e.do(w, epVenue, j.at)
	switch status {
	case 200:
		body, err := w.resp.BodyUncompressed()
		var v *venueMap
		if err == nil {
			v, err = parseVenue(body)
		}
		if err != nil {
			e.countError("bad_venue")
			e.skipSeating("the venue map could not be read: " + err.Error())
			e.finish(f)
			return
		}
		e.venue, e.venueETag = v, string(w.resp.Header.Peek("ETag"))
		e.venueState.Store(venueReady)
		f.state = stHold
		j.at = e.sched.now()
		e.hold(w, j, f)
	case 404:
		e.skipSeating("the venue map answered 404: no seating at this target")
		e.finish(f)
	default:
		e.venueState.Store(venueNone)
		e.retry(j, f, time.Second)
	}
}

func (e *engine) skipSeating(why string) {
	e.skipMu.Lock()
	e.skipped = why
	e.skipMu.Unlock()
	e.venueState.Store(venueAbsent)
}

// holdDoc is a hold as the seating API answers it.
type holdDoc struct {
	HoldID string   `json:"hold_id"`
	Seats  []string `json:"seats"`
	State  string   `json:"state"`
}

func (e *engine) hold(w *worker, j job, f *fan) {
	sj := f.seat
	want := e.venue.pick(w.rng, e.cfg.SeatPreference, e.cfg.SeatsPerFan, sj.retried)
	body, _ := json.Marshal(want)
	e.setSeatingRequest(w, f, "POST", e.holdsURL)
	w.req.Header.SetContentType("application/json")
	w.req.SetBody(body)
	status := e.do(w, epHold, j.at)
	switch {
	case status == 200 || status == 201:
		var h holdDoc
		if err := json.Unmarshal(w.resp.Body(), &h); err != nil || h.HoldID == "" {
			e.countError("bad_hold")
			e.finish(f)
			return
		}
		sj.holdID, sj.seats = h.HoldID, h.Seats
		sj.confirm = w.rng.Float64() < e.cfg.ConfirmProbability
		f.state = stDecide
		think := int64(0)
		if t := e.cfg.ThinkTime; t > 0 {
			think = int64(t/2) + w.rng.Int64N(int64(t)+1)
		}
		e.sched.schedule(j.fan, e.sched.now()+think)
	case status == 409:
		e.conflicts.Add(1)
		if !sj.retried {
			sj.retried = true
			e.sched.schedule(j.fan, e.sched.now())
			return
		}
		e.finish(f)
	case status == 0 || status >= 500:
		e.retry(j, f, time.Second)
	default:
		// 4xx: the token or the request was refused; counted by do.
		e.finish(f)
	}
}

func (e *engine) decide(w *worker, j job, f *fan) {
	sj := f.seat
	if !sj.confirm {
		if !e.cfg.ReleaseUnconfirmed {
			e.holdsExpired.Add(1)
			e.finish(f)
			return
		}
		e.setSeatingRequest(w, f, "DELETE", e.holdsURL+"/"+sj.holdID)
		if status := e.do(w, epRelease, j.at); status == 0 || status >= 500 {
			e.retry(j, f, time.Second)
			return
		}
		e.finish(f)
		return
	}
	e.setSeatingRequest(w, f, "POST", e.holdsURL+"/"+sj.holdID+"/confirm")
	w.req.Header.Set("Idempotency-Key", fmt.Sprintf("lt-%x-%d-%s", e.cfg.Seed, j.fan, sj.holdID))
	status := e.do(w, epConfirm, j.at)
	switch {
	case status == 200 || status == 201:
		var h holdDoc
		if err := json.Unmarshal(w.resp.Body(), &h); err == nil && len(h.Seats) > 0 {
			sj.seats = h.Seats
		}
		e.recordSold(j.fan, sj.seats)
		e.finish(f)
	case status == 410:
		e.holdsExpired.Add(1)
		e.finish(f)
	case status == 0 || status >= 500:
		e.retry(j, f, time.Second) // confirm is idempotent
	default:
		e.finish(f)
	}
}

// recordSold notes seats confirmed to fan; a seat already confirmed to
// another fan is oversold, counted once per seat.
func (e *engine) recordSold(fan int32, seats []string) {
	e.soldMu.Lock()
	defer e.soldMu.Unlock()
	for _, s := range seats {
		owner, ok := e.soldTo[s]
		switch {
		case !ok:
			e.soldTo[s] = fan
			e.soldSeats.Add(1)
		case owner >= 0 && owner != fan:
			e.soldTo[s] = -1
			e.oversold++
		}
	}
}
