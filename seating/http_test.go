package seating

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/valyala/fasthttp"

	"github.com/foyerhq/foyer/admission"
	"github.com/foyerhq/foyer/internal/redistest"
)

// apiHarness drives a Server's handler directly, with real stores.
type apiHarness struct {
	t      *testing.T
	srv    *Server
	tokens *admission.Tokens
	venue  *Venue
}

func newAPIHarness(t *testing.T, store Store, shared Shared) *apiHarness {
	t.Helper()
	key, err := admission.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ks, _ := admission.NewKeySet(key)
	tokens, _ := admission.NewTokens(admission.Config{}, ks)
	venue, err := Generate(GenerateConfig{Name: "Test Arena", Seats: 2000, Stands: 4, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	cache, err := NewStandCache(CacheConfig{Interval: 50 * time.Millisecond}, store, shared, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cache.Close)
	srv, err := New(Config{Events: []Event{{Name: "show", Venue: venue}}, HoldTTL: time.Minute, MaxSeatsPerVisitor: 4, StoreTimeout: 500 * time.Millisecond}, store, cache, tokens, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Prepare(context.Background()); err != nil {
		t.Fatal(err)
	}
	return &apiHarness{t: t, srv: srv, tokens: tokens, venue: venue}
}

func (h *apiHarness) token(visitor, event string) string {
	tok, _, err := h.tokens.Issue(visitor, event, time.Now())
	if err != nil {
		h.t.Fatal(err)
	}
	return tok
}

type apiReply struct {
	status  int
	body    []byte
	headers map[string]string
}

func (r apiReply) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("not JSON (%d): %q", r.status, r.body)
	}
	return m
}

func (r apiReply) code(t *testing.T) string {
	e, _ := r.json(t)["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func (h *apiHarness) do(method, uri, token, body string, headers ...string) apiReply {
	var ctx fasthttp.RequestCtx
	ctx.Request.Header.SetMethod(method)
	ctx.Request.SetRequestURI(uri)
	if token != "" {
		ctx.Request.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		ctx.Request.Header.Set(headers[i], headers[i+1])
	}
	if body != "" {
		ctx.Request.SetBodyString(body)
	}
	h.srv.Handler(&ctx)
	r := apiReply{status: ctx.Response.StatusCode(), body: append([]byte(nil), ctx.Response.Body()...), headers: map[string]string{}}
	for k, v := range ctx.Response.Header.All() {
		r.headers[string(k)] = string(v)
	}
	return r
}

const api = "/seating/v1/events/show"

func TestAPIRequiresAdmissionBeforeStore(t *testing.T) {
	srv := redistest.Start(t)
	client := srv.Client(t)
	h := newAPIHarness(t, NewRedis(client, RedisOptions{}), NewRedisShared(client, RedisSharedOptions{}))
	other := h.token("v1", "other-event")
	expired, _, _ := h.tokens.Issue("v1", "show", time.Now().Add(-time.Hour))
	calls := func() int64 {
		var n int64
		for cmd, c := range srv.CommandStats(t) {
			if cmd != "info" && cmd != "hello" && !strings.HasPrefix(cmd, "client") {
				n += c
			}
		}
		return n
	}
	before := calls()
	for _, tok := range []string{"", "garbage", other, expired} {
		for _, r := range []struct{ method, path, body string }{
			{"GET", "/stands", ""},
			{"GET", "/stands/N1/status", ""},
			{"POST", "/holds", `{"seats":["N1-1-1"]}`},
			{"POST", "/holds/N1.abc/confirm", ""},
			{"DELETE", "/holds/N1.abc", ""},
		} {
			got := h.do(r.method, api+r.path, tok, r.body)
			if got.status != 401 {
				t.Errorf("%s %s with token %.10q: got %d, want 401", r.method, r.path, tok, got.status)
			}
		}
	}
	if n := calls() - before; n != 0 {
		t.Errorf("rejected calls ran %d Redis commands, want 0", n)
	}
	// The static map needs no token.
	if r := h.do("GET", api+"/venue", "", ""); r.status != 200 {
		t.Errorf("venue without a token: got %d, want 200", r.status)
	}
}

func TestAPIHoldConfirmRelease(t *testing.T) {
	h := newAPIHarness(t, NewMemory(nil), NewMemoryShared(nil))
	alice, bob := h.token("alice", "show"), h.token("bob", "show")
	r := h.do("POST", api+"/holds", alice, `{"seats":["N1-1-1","N1-1-2"]}`)
	if r.status != 201 {
		t.Fatalf("hold: got %d %s, want 201", r.status, r.body)
	}
	hold := r.json(t)
	id := hold["hold_id"].(string)
	if got := hold["seats"].([]any); len(got) != 2 || got[0] != "N1-1-1" {
		t.Errorf("hold seats: got %v", got)
	}
	// Bob asks for an overlapping set: 409 naming the seat taken.
	r = h.do("POST", api+"/holds", bob, `{"seats":["N1-1-2","N1-1-3"]}`)
	if r.status != 409 {
		t.Fatalf("conflict: got %d %s, want 409", r.status, r.body)
	}
	if taken := r.json(t)["taken"].([]any); len(taken) != 1 || taken[0] != "N1-1-2" {
		t.Errorf("taken: got %v, want [N1-1-2]", taken)
	}
	// Bob cannot confirm or release Alice's hold.
	if r := h.do("POST", api+"/holds/"+id+"/confirm", bob, ""); r.status != 403 {
		t.Errorf("confirm by another visitor: got %d, want 403", r.status)
	}
	// Confirm is idempotent: the same sale twice.
	first := h.do("POST", api+"/holds/"+id+"/confirm", alice, "", "Idempotency-Key", "k-1")
	again := h.do("POST", api+"/holds/"+id+"/confirm", alice, "", "Idempotency-Key", "k-1")
	if first.status != 200 || again.status != 200 || first.json(t)["state"] != "sold" || string(first.body) != string(again.body) {
		t.Fatalf("confirm twice: %d %s / %d %s, want the same sale", first.status, first.body, again.status, again.body)
	}
	// Release of a sold hold is refused; release of an unknown hold is fine.
	if r := h.do("DELETE", api+"/holds/"+id, alice, ""); r.status != 409 {
		t.Errorf("release of a sold hold: got %d %s, want 409", r.status, r.body)
	}
	if r := h.do("DELETE", api+"/holds/N1.unknown", alice, ""); r.status != 204 {
		t.Errorf("release of an unknown hold: got %d, want 204", r.status)
	}
	// Best available, then release it twice.
	r = h.do("POST", api+"/holds", bob, `{"stand":"E1","tier":"`+h.venue.Tiers[0].ID+`","quantity":3}`)
	if r.status != 201 || len(r.json(t)["seats"].([]any)) != 3 {
		t.Fatalf("best available: got %d %s", r.status, r.body)
	}
	bid := r.json(t)["hold_id"].(string)
	for range 2 {
		if r := h.do("DELETE", api+"/holds/"+bid, bob, ""); r.status != 204 {
			t.Errorf("release: got %d %s, want 204", r.status, r.body)
		}
	}
	// The per-visitor cap.
	if r := h.do("POST", api+"/holds", bob, `{"seats":["S1-1-1","S1-1-2","S1-1-3","S1-1-4","S1-1-5"]}`); r.status != 400 || r.code(t) != "too_many_seats" {
		t.Errorf("5 seats with a cap of 4: got %d %s", r.status, r.body)
	}
}

func TestAPIBadInput(t *testing.T) {
	h := newAPIHarness(t, NewMemory(nil), NewMemoryShared(nil))
	tok := h.token("v", "show")
	cases := []struct {
		method, path, body string
		status             int
		code               string
	}{
		{"POST", "/holds", `not json`, 400, "invalid_body"},
		{"POST", "/holds", `{"seats":["nope"]}`, 400, "unknown_seat"},
		{"POST", "/holds", `{"seats":["N1-1-1","E1-1-1"]}`, 400, "several_stands"},
		{"POST", "/holds", `{"stand":"X9","tier":"c1","quantity":1}`, 400, "unknown_stand"},
		{"POST", "/holds", `{"stand":"N1","tier":"zz","quantity":1}`, 400, "unknown_tier"},
		{"POST", "/holds", `{"stand":"N1","tier":"c1","quantity":0}`, 400, "invalid_quantity"},
		{"POST", "/holds", `{"seats":["N1-1-1"],"stand":"N1"}`, 400, "invalid_body"},
		{"GET", "/holds", ``, 405, "method_not_allowed"},
		{"GET", "/stands/X9/status", ``, 404, "unknown_stand"},
		{"GET", "/stands/N1/status?since=abc", ``, 400, "invalid_since"},
		{"POST", "/holds/N1.nothing/confirm", ``, 404, "hold_not_found"},
		{"GET", "/nothing", ``, 404, "not_found"},
	}
	for _, c := range cases {
		r := h.do(c.method, api+c.path, tok, c.body)
		if r.status != c.status || r.code(t) != c.code {
			t.Errorf("%s %s %s: got %d %s, want %d %s", c.method, c.path, c.body, r.status, r.body, c.status, c.code)
		}
	}
	if r := h.do("GET", "/seating/v1/events/nope/venue", "", ""); r.status != 404 || r.code(t) != "unknown_event" {
		t.Errorf("unknown event: got %d %s", r.status, r.body)
	}
}

func TestAPIStaticMapAndStandStatus(t *testing.T) {
	h := newAPIHarness(t, NewMemory(nil), NewMemoryShared(nil))
	tok := h.token("v", "show")
	r := h.do("GET", api+"/venue", "", "", "Accept-Encoding", "gzip")
	etag := r.headers["Etag"]
	if r.status != 200 || r.headers["Content-Encoding"] != "gzip" || etag == "" {
		t.Fatalf("venue: got %d, encoding %q, etag %q", r.status, r.headers["Content-Encoding"], etag)
	}
	zr, err := gzip.NewReader(bytes.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := io.ReadAll(zr)
	if v, err := ParseVenue(plain); err != nil || v.SeatCount() != 2000 {
		t.Fatalf("gzipped venue does not parse back: %v", err)
	}
	if r := h.do("GET", api+"/venue", "", "", "If-None-Match", etag); r.status != 304 {
		t.Errorf("venue with its ETag: got %d, want 304", r.status)
	}
	versioned := h.do("GET", api+"/venue?v="+strings.Trim(etag, `"`), "", "")
	if !strings.Contains(versioned.headers["Cache-Control"], "immutable") {
		t.Errorf("versioned venue URL: Cache-Control %q, want immutable", versioned.headers["Cache-Control"])
	}

	status := h.do("GET", api+"/stands/N1/status", tok, "")
	seats := 0
	for _, st := range h.venue.Stands {
		if st.ID == "N1" {
			seats = st.SeatCount()
		}
	}
	if status.status != 200 || len(status.body) != (seats+3)/4 {
		t.Fatalf("stand status: got %d with %d bytes, want 200 with %d (2 bits a seat)", status.status, len(status.body), (seats+3)/4)
	}
	v0 := status.headers["Etag"]
	if r := h.do("GET", api+"/stands/N1/status", tok, "", "If-None-Match", v0); r.status != 304 {
		t.Errorf("unchanged stand with its ETag: got %d, want 304", r.status)
	}
	// A hold changes the stand; the delta since the old version names it.
	hold := h.do("POST", api+"/holds", tok, `{"seats":["N1-1-1"]}`)
	if hold.status != 201 {
		t.Fatalf("hold: %d %s", hold.status, hold.body)
	}
	delta := h.do("GET", api+"/stands/N1/status?since="+strings.Trim(v0, `"`), tok, "")
	from, to, changes, err := ParseDelta(delta.body)
	if delta.status != 200 || err != nil || to <= from || len(changes) != 1 || changes[0].Seat != 0 || changes[0].Status != Held {
		t.Errorf("delta: %d %s (%v), want one change: seat 0 held", delta.status, delta.body, err)
	}
	// The stand cache catches up within its interval.
	deadline := time.Now().Add(3 * time.Second)
	for {
		r := h.do("GET", api+"/stands/N1/status", tok, "")
		if r.headers["Etag"] != v0 {
			if StatusAt(r.body, 0) != Held {
				t.Errorf("after the hold, seat 0 is %v, want held", StatusAt(r.body, 0))
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("stand status did not change within 3s of a hold")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestAPIStoreDown: with the authoritative store unreachable, the map is
// still served (marked stale) and holds fail with a retryable 503, never a
// 500.
func TestAPIStoreDown(t *testing.T) {
	srv := redistest.Start(t)
	client := srv.Client(t)
	h := newAPIHarness(t, NewRedis(client, RedisOptions{}), NewMemoryShared(nil))
	tok := h.token("v", "show")
	if r := h.do("GET", api+"/stands/N1/status", tok, ""); r.status != 200 {
		t.Fatalf("status before: %d", r.status)
	}
	// Point the store at nothing.
	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 50 * time.Millisecond, MaxRetries: -1})
	h.srv.store = NewRedis(dead, RedisOptions{})
	h.srv.cache.auth = h.srv.store
	r := h.do("POST", api+"/holds", tok, `{"seats":["N1-1-5"]}`)
	if r.status != 503 || r.code(t) != "store_unavailable" || r.headers["Retry-After"] == "" {
		t.Errorf("hold with the store down: got %d %s, want 503 store_unavailable with Retry-After", r.status, r.body)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		r := h.do("GET", api+"/stands/N1/status", tok, "")
		if r.status != 200 {
			t.Fatalf("map with the store down: got %d %s, want 200", r.status, r.body)
		}
		if r.headers["Foyer-Stale"] == "true" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the map was never marked stale with the store down")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if health := h.do("GET", "/seating/v1/health", "", "").json(t); health["status"] != "degraded" {
		t.Errorf("health with the store down: %v, want degraded", health["status"])
	}
}

func TestAPIHealth(t *testing.T) {
	h := newAPIHarness(t, NewMemory(nil), NewMemoryShared(nil))
	tok := h.token("v", "show")
	for _, seat := range []string{"N1-1-1", "N1-1-2", "N1-1-1"} {
		h.do("POST", api+"/holds", tok, `{"seats":["`+seat+`"]}`)
	}
	doc := h.do("GET", "/seating/v1/health", "", "").json(t)
	if doc["holds_per_second"].(float64) <= 0 {
		t.Errorf("holds_per_second: %v, want > 0", doc["holds_per_second"])
	}
	if doc["error_rate"].(float64) != 0 {
		t.Errorf("error_rate: %v, want 0 (a conflict is an answer, not an error)", doc["error_rate"])
	}
	lat := doc["hold_latency_ms"].(map[string]any)
	if lat["p99"].(float64) < lat["p50"].(float64) {
		t.Errorf("latency percentiles out of order: %v", lat)
	}
	events := doc["events"].([]any)
	if len(events) != 1 || events[0].(map[string]any)["seats_left"].(float64) <= 0 {
		t.Errorf("events: %v", events)
	}
}

func BenchmarkAPIStandStatus(b *testing.B) {
	key, _ := admission.GenerateKey(rand.Reader)
	ks, _ := admission.NewKeySet(key)
	tokens, _ := admission.NewTokens(admission.Config{}, ks)
	venue, _ := Generate(GenerateConfig{Seats: 100000, Stands: 40, Seed: 1})
	store := NewMemory(nil)
	cache, _ := NewStandCache(CacheConfig{}, store, NewMemoryShared(nil), nil, nil)
	defer cache.Close()
	srv, err := New(Config{Events: []Event{{Name: "show", Venue: venue}}}, store, cache, tokens, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	if err := srv.Prepare(context.Background()); err != nil {
		b.Fatal(err)
	}
	tok, _, _ := tokens.Issue("v", "show", time.Now())
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var ctx fasthttp.RequestCtx
		for pb.Next() {
			ctx.Request.Reset()
			ctx.Response.Reset()
			ctx.Request.Header.SetMethod("GET")
			ctx.Request.SetRequestURI(api + "/stands/N1/status")
			ctx.Request.Header.Set("Authorization", "Bearer "+tok)
			srv.Handler(&ctx)
			if ctx.Response.StatusCode() != 200 {
				b.Fatalf("status %d", ctx.Response.StatusCode())
			}
		}
	})
}
