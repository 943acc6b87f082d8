package proxy

import (
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/foyerhq/foyer/internal/testclock"
	"github.com/foyerhq/foyer/queue"
)

// withClock times the harness's memory store and proxy by c.
func withClock(c *testclock.Clock) harnessOpt {
	return func(cfg *Config, d *Deps) {
		d.Store = queue.NewMemory(c.Now)
		d.Now = c.Now
	}
}

// fan is a visitor of the harness, polling with its ticket.
type fan struct {
	ticket string
	token  string
	doc    map[string]any
}

func (h *harness) join(event string) *fan {
	h.t.Helper()
	r := h.do("POST", "/_foyer/v1/events/"+event+"/join", "Accept", "application/json")
	if r.status != 200 {
		h.t.Fatalf("join: got status %d, want 200: %s", r.status, r.body)
	}
	f := &fan{doc: r.json(h.t)}
	f.ticket, _ = f.doc["ticket"].(string)
	return f
}

func (h *harness) poll(event string, f *fan) map[string]any {
	h.t.Helper()
	f.doc = h.do("GET", "/_foyer/v1/events/"+event+"/status", "Foyer-Ticket", f.ticket).json(h.t)
	if t, ok := f.doc["ticket"].(string); ok {
		f.ticket = t
	}
	if tok, ok := f.doc["admission_token"].(string); ok {
		f.token = tok
	}
	return f.doc
}

// line advances event's line in the store at the store's current time (a
// fake clock's: the answer is exact) and waits until the proxy's cache has
// caught up with it.
func (h *harness) line(event string) queue.State {
	h.t.Helper()
	st, err := h.store.Advance(h.t.Context(), event, h.p.byName[event].seed())
	if err != nil {
		h.t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, got, _ := h.p.Event(event)
		if got.Serving >= st.Serving && got.Control == st.Control && got.Prequeue == st.Prequeue && !got.At.Before(st.At) {
			return st
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("the proxy's cache did not catch up with the store within 5s: %+v, want %+v", got, st)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestTwoLimits: admissions follow the rate until the active-session cap
// binds; a turn not claimed within the claim window is abandoned and its
// slot reissued, and its visitor gets a new place; an origin's
// "Foyer-Session: end" frees a slot within a second.
func TestTwoLimits(t *testing.T) {
	clock := testclock.New(time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC))
	var endSession sync.Map // paths whose answer ends the session
	h := newHarness(t, withClock(clock), func(cfg *Config, d *Deps) {
		cfg.Events[0].RatePerSecond = 2
		cfg.Events[0].MaxActive = 4
		cfg.Events[0].ClaimWindow = 10 * time.Second
	})
	h.origin.srv.Handler = func(ctx *fasthttp.RequestCtx) {
		if _, ok := endSession.Load(string(ctx.Path())); ok {
			ctx.Response.Header.Set("Foyer-Session", "end")
		}
		ctx.SetBodyString("ok")
	}
	fans := make([]*fan, 10)
	for i := range fans {
		fans[i] = h.join("show")
	}

	// The rate binds first: 2/s for 1.5 s of store time is 3 turns.
	clock.Add(1500 * time.Millisecond)
	if st := h.line("show"); st.Serving != 3 || st.Pending != 3 {
		t.Fatalf("after 1.5s at 2/s got serving %d pending %d, want 3 3", st.Serving, st.Pending)
	}
	// Then the cap: 10 s more would be 20 turns, but 4 are allowed.
	clock.Add(3 * time.Second)
	if st := h.line("show"); st.Serving != 4 || st.Pending != 4 {
		t.Fatalf("with a cap of 4 got serving %d pending %d, want 4 4", st.Serving, st.Pending)
	}
	for i := range 3 {
		if doc := h.poll("show", fans[i]); doc["state"] != "admitted" {
			t.Fatalf("fan %d: got state %v, want admitted", i, doc["state"])
		}
	}
	if st := h.line("show"); st.Active != 3 || st.Pending != 1 {
		t.Fatalf("after three claims got active %d pending %d, want 3 1", st.Active, st.Pending)
	}
	if doc := h.poll("show", fans[5]); doc["state"] != "waiting" || doc["position"] != 2.0 {
		t.Errorf("fan 5 with the cap full: got %v, want waiting at position 2", doc)
	}

	// Fan 3 never claims: after the claim window its turn is abandoned
	// and the slot goes to fan 4.
	clock.Add(11 * time.Second)
	st := h.line("show")
	if st.Abandoned != 1 || st.Serving != 5 {
		t.Fatalf("after the claim window got abandoned %d serving %d, want 1 and 5", st.Abandoned, st.Serving)
	}
	doc := h.poll("show", fans[3])
	if doc["state"] != "waiting" || doc["notice"] != noticeTurnExpired || doc["position"] != 6.0 {
		t.Errorf("the abandoned fan coming back: got %v, want waiting at position 6 (a new place) with notice %s", doc, noticeTurnExpired)
	}
	if doc := h.poll("show", fans[4]); doc["state"] != "admitted" {
		t.Errorf("fan 4 after the reissue: got %v, want admitted", doc)
	}

	// The origin ends fan 0's session: its slot is free within a second
	// of real time, and its token no longer passes.
	endSession.Store("/checkout/done", true)
	r := h.do("GET", "/checkout/done", "Authorization", "Bearer "+fans[0].token, "Accept", "application/json")
	if r.status != 200 || r.header("Foyer-Session") != "" {
		t.Fatalf("forwarded answer: status %d Foyer-Session %q, want 200 and the header removed", r.status, r.header("Foyer-Session"))
	}
	ended := time.Now()
	for {
		// Fans 0, 1, 2 and 4 were active; fan 0 is gone.
		if _, st, _ := h.p.Event("show"); st.Active == 3 {
			break
		}
		if time.Since(ended) > time.Second {
			t.Fatalf("1s after Foyer-Session: end the proxy still sees %+v, want 3 active sessions", h.line("show"))
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("slot freed %v after the origin ended the session", time.Since(ended).Round(time.Microsecond))
	// The next turn comes at the rate: half a second at 2/s.
	clock.Add(500 * time.Millisecond)
	if st := h.line("show"); st.Serving != 6 || st.Pending != 1 {
		t.Errorf("after the freed slot got serving %d pending %d, want 6 and 1 (fan 5 let in)", st.Serving, st.Pending)
	}
	if r := h.do("GET", "/again", "Authorization", "Bearer "+fans[0].token, "Accept", "application/json"); r.status != 401 {
		t.Errorf("the ended session's token: got status %d, want 401", r.status)
	}
	if doc := h.poll("show", fans[0]); doc["state"] != "waiting" || doc["notice"] != noticeTurnExpired {
		t.Errorf("fan 0 polling after its session ended: got %v, want a new place", doc)
	}
	if got := h.counter("foyer_session_events_total", map[string]string{"kind": "ended_by_origin"}); got != 1 {
		t.Errorf("ended_by_origin sessions: got %v, want 1", got)
	}
}

// TestSessionRenewal: an admitted visitor active past half its session gets
// a fresh token carrying the session's start, until SessionMax.
func TestSessionRenewal(t *testing.T) {
	clock := testclock.New(time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC))
	h := newHarness(t, withClock(clock), func(cfg *Config, d *Deps) {
		cfg.Events[0].SessionDuration = 2 * time.Minute
		cfg.Events[0].SessionMax = 5 * time.Minute
	})
	f := h.join("show")
	clock.Add(time.Second)
	h.line("show")
	if doc := h.poll("show", f); doc["state"] != "admitted" {
		t.Fatalf("got %v, want admitted", doc)
	}
	first, err := h.tokens.Verify([]byte(f.token), "show", clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	tok := f.token
	var renewals int
	for range 6 {
		clock.Add(70 * time.Second)
		r := h.do("GET", "/page", "Authorization", "Bearer "+tok, "Accept", "application/json")
		if r.status != 200 {
			break
		}
		if nt := r.header(headerAdmissionToken); nt != "" {
			c, err := h.tokens.Verify([]byte(nt), "show", clock.Now())
			if err != nil || !c.SessionStart.Equal(first.SessionStart) {
				t.Fatalf("renewed token: session start %v err %v, want %v", c.SessionStart, err, first.SessionStart)
			}
			if c.ExpiresAt.After(first.SessionStart.Add(5 * time.Minute)) {
				t.Errorf("renewed token expires %v, after the session maximum %v", c.ExpiresAt, first.SessionStart.Add(5*time.Minute))
			}
			tok = nt
			renewals++
		}
	}
	if renewals < 2 {
		t.Errorf("got %d renewals over 7 minutes of activity, want at least 2", renewals)
	}
	if r := h.do("GET", "/page", "Authorization", "Bearer "+tok, "Accept", "application/json"); r.status != 401 {
		t.Errorf("after the session maximum: got status %d, want 401", r.status)
	}
}
