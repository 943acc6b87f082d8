package loadtest

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeDeployment is a small, honest implementation of Foyer's public
// contract for the tests: a line whose serving counter advances at rate per
// second (capped by the tail, keeping the fractional remainder), and a
// seating service with all-or-nothing holds. Its knobs inject the faults the
// tests look for.
type fakeDeployment struct {
	rate       float64       // admissions per second
	minRefresh time.Duration // refresh_after_ms bounds (the real one: 1–10 s)
	maxRefresh time.Duration
	noSeating  bool   // the venue answers 404
	buggySeat  string // a seat the seating never marks taken: it can sell twice
	stallFrom  time.Duration
	stallFor   time.Duration // every request arriving in the stall waits for its end
	delay      time.Duration // every answer takes this long

	start time.Time
	// duringStall counts requests that arrived while the server stalled.
	duringStall atomic.Int64

	mu      sync.Mutex // guards the line and the seating below
	last    time.Time
	credit  float64
	serving int64
	tail    int64
	seats   map[string]string // seat → hold id holding or selling it
	holds   map[string]*fakeHold
	nextID  int
}

type fakeHold struct {
	owner string
	seats []string
	sold  bool
}

// start serves d and returns its base URL.
func (d *fakeDeployment) serve(t *testing.T) string {
	t.Helper()
	if d.minRefresh == 0 {
		d.minRefresh = 100 * time.Millisecond
	}
	if d.maxRefresh == 0 {
		d.maxRefresh = 500 * time.Millisecond
	}
	d.start, d.last = time.Now(), time.Now()
	d.seats, d.holds = map[string]string{}, map[string]*fakeHold{}
	srv := httptest.NewServer(http.HandlerFunc(d.handle))
	t.Cleanup(srv.Close)
	return srv.URL
}

// advance moves the serving counter on; d.mu must be held.
func (d *fakeDeployment) advance(now time.Time) {
	d.credit += d.rate * now.Sub(d.last).Seconds()
	d.last = now
	step := math.Floor(d.credit)
	d.credit -= step
	d.serving += int64(step)
	if d.serving >= d.tail {
		d.serving, d.credit = d.tail, 0 // an empty line earns no credit
	}
}

// status builds the status document of seq; d.mu must be held.
func (d *fakeDeployment) status(seq int64) map[string]any {
	doc := map[string]any{"event": "drop", "serving": d.serving, "ticket": "t" + strconv.FormatInt(seq, 10)}
	if seq <= d.serving {
		doc["state"] = "admitted"
		doc["admission_token"] = "tok" + strconv.FormatInt(seq, 10)
		doc["redirect"] = "/"
		return doc
	}
	pos := seq - d.serving
	eta := math.Ceil(float64(pos) / d.rate)
	refresh := min(max(time.Duration(eta*float64(time.Second)/4), d.minRefresh), d.maxRefresh)
	doc["state"], doc["position"], doc["ahead"] = "waiting", pos, pos-1
	doc["eta_known"], doc["eta_seconds"], doc["refresh_after_ms"] = true, eta, refresh.Milliseconds()
	return doc
}

func fakeError(w http.ResponseWriter, status int, code string, extra map[string]any) {
	doc := map[string]any{"error": map[string]string{"code": code, "message": code}}
	for k, v := range extra {
		doc[k] = v
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(doc)
}

func (d *fakeDeployment) handle(w http.ResponseWriter, r *http.Request) {
	if d.delay > 0 {
		if time.Since(d.start) < d.delay {
			d.duringStall.Add(1) // sent before any answer could have come back
		}
		time.Sleep(d.delay)
	}
	if d.stallFor > 0 {
		at := time.Since(d.start)
		if at >= d.stallFrom && at < d.stallFrom+d.stallFor {
			d.duringStall.Add(1)
			time.Sleep(d.stallFrom + d.stallFor - at)
		}
	}
	p := r.URL.Path
	switch {
	case p == "/_foyer/v1/events/drop/join" && r.Method == http.MethodPost:
		d.mu.Lock()
		d.tail++
		d.advance(time.Now())
		doc := d.status(d.tail)
		d.mu.Unlock()
		_ = json.NewEncoder(w).Encode(doc)
	case p == "/_foyer/v1/events/drop/status":
		seq, err := strconv.ParseInt(strings.TrimPrefix(r.Header.Get("Foyer-Ticket"), "t"), 10, 64)
		if err != nil || seq < 1 {
			fakeError(w, http.StatusUnauthorized, "invalid_ticket", nil)
			return
		}
		d.mu.Lock()
		d.advance(time.Now())
		doc := d.status(seq)
		d.mu.Unlock()
		_ = json.NewEncoder(w).Encode(doc)
	case p == "/seating/v1/events/drop/venue":
		if d.noSeating {
			fakeError(w, http.StatusNotFound, "unknown_event", nil)
			return
		}
		w.Header().Set("ETag", `"v1"`)
		if r.Header.Get("If-None-Match") == `"v1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		_, _ = w.Write(fakeVenue)
	case strings.HasPrefix(p, "/seating/v1/events/drop/holds"):
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || !strings.HasPrefix(token, "tok") {
			fakeError(w, http.StatusUnauthorized, "admission_required", nil)
			return
		}
		d.holdsAPI(w, r, token, strings.TrimPrefix(p, "/seating/v1/events/drop/holds"))
	default:
		fakeError(w, http.StatusNotFound, "not_found", nil)
	}
}

func (d *fakeDeployment) holdsAPI(w http.ResponseWriter, r *http.Request, owner, rest string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if rest == "" && r.Method == http.MethodPost {
		var body struct {
			Seats    []string `json:"seats"`
			Stand    string   `json:"stand"`
			Quantity int      `json:"quantity"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			fakeError(w, http.StatusBadRequest, "invalid_body", nil)
			return
		}
		if body.Stand != "" { // best available: the first free run in the stand
			body.Seats = nil
			for row := 1; row <= 10 && body.Seats == nil; row++ {
				var run []string
				for s := 1; s <= 20; s++ {
					id := fmt.Sprintf("%s-%d-%d", body.Stand, row, s)
					if _, taken := d.seats[id]; taken {
						run = nil
						continue
					}
					if run = append(run, id); len(run) == body.Quantity {
						body.Seats = run
						break
					}
				}
			}
			if body.Seats == nil {
				fakeError(w, http.StatusConflict, "no_seats", nil)
				return
			}
		}
		var taken []string
		for _, s := range body.Seats {
			if _, ok := d.seats[s]; ok && s != d.buggySeat {
				taken = append(taken, s)
			}
		}
		if len(taken) > 0 {
			fakeError(w, http.StatusConflict, "seats_taken", map[string]any{"taken": taken})
			return
		}
		d.nextID++
		id := "h" + strconv.Itoa(d.nextID)
		d.holds[id] = &fakeHold{owner: owner, seats: body.Seats}
		for _, s := range body.Seats {
			d.seats[s] = id
		}
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]any{"hold_id": id, "seats": body.Seats, "state": "held"})
		return
	}
	id, action, _ := strings.Cut(strings.TrimPrefix(rest, "/"), "/")
	h := d.holds[id]
	if h == nil || h.owner != owner {
		fakeError(w, http.StatusNotFound, "hold_not_found", nil)
		return
	}
	switch {
	case action == "confirm" && r.Method == http.MethodPost:
		h.sold = true
		_ = json.NewEncoder(w).Encode(map[string]any{"hold_id": id, "seats": h.seats, "state": "sold"})
	case action == "" && r.Method == http.MethodDelete:
		for _, s := range h.seats {
			if d.seats[s] == id {
				delete(d.seats, s)
			}
		}
		delete(d.holds, id)
		w.WriteHeader(http.StatusNoContent)
	default:
		fakeError(w, http.StatusMethodNotAllowed, "method_not_allowed", nil)
	}
}

// fakeVenue has two stands of 10 rows of 20 seats; seat S1-1-20 is blocked.
var fakeVenue = func() []byte {
	type seat struct {
		ID string `json:"id"`
		I  int    `json:"i"`
		T  int    `json:"t"`
		B  bool   `json:"b,omitempty"`
	}
	type row struct {
		ID    string `json:"id"`
		Seats []seat `json:"seats"`
	}
	type stand struct {
		ID   string `json:"id"`
		Rows []row  `json:"rows"`
	}
	v := struct {
		Name   string           `json:"name"`
		Tiers  []map[string]any `json:"tiers"`
		Stands []stand          `json:"stands"`
	}{Name: "Fake Arena", Tiers: []map[string]any{{"id": "c1"}, {"id": "c2"}}}
	for _, sid := range []string{"S1", "S2"} {
		st := stand{ID: sid}
		for r := 1; r <= 10; r++ {
			rw := row{ID: strconv.Itoa(r)}
			for s := 1; s <= 20; s++ {
				rw.Seats = append(rw.Seats, seat{ID: fmt.Sprintf("%s-%d-%d", sid, r, s), I: (r-1)*20 + s - 1, T: min(r/6, 1), B: sid == "S1" && r == 1 && s == 20})
			}
			st.Rows = append(st.Rows, rw)
		}
		v.Stands = append(v.Stands, st)
	}
	b, _ := json.Marshal(v)
	return b
}()
