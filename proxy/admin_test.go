package proxy

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/foyerhq/foyer/internal/redistest"
	"github.com/foyerhq/foyer/queue"
)

const testAdminToken = "admin-token-for-tests"

func adminDo(t *testing.T, h http.Handler, method, path, token, body string) (int, map[string]any, string) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	raw, _ := io.ReadAll(rec.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return rec.Code, m, string(raw)
}

func TestAdminAuth(t *testing.T) {
	h := newHarness(t)
	admin := h.p.AdminHandler(testAdminToken, h.reg)
	for _, path := range []string{"/metrics", "/admin/v1/events", "/admin/v1/events/show"} {
		for _, tok := range []string{"", "wrong", testAdminToken + "x", strings.ToUpper(testAdminToken)} {
			if code, _, _ := adminDo(t, admin, "GET", path, tok, ""); code != 401 {
				t.Errorf("GET %s with token %q: got %d, want 401", path, tok, code)
			}
		}
		if code, _, _ := adminDo(t, admin, "GET", path, testAdminToken, ""); code != 200 {
			t.Errorf("GET %s with the token: got %d, want 200", path, code)
		}
	}
	// Probes need no token.
	for _, path := range []string{"/livez", "/readyz"} {
		if code, _, _ := adminDo(t, admin, "GET", path, "", ""); code != 200 {
			t.Errorf("GET %s: got %d, want 200", path, code)
		}
	}
	// An empty configured token never authenticates.
	open := h.p.AdminHandler("", h.reg)
	if code, _, _ := adminDo(t, open, "GET", "/metrics", "", ""); code != 401 {
		t.Errorf("empty admin token: got %d, want 401", code)
	}
}

func TestAdminMetrics(t *testing.T) {
	h := newHarness(t)
	h.admitted("show")
	admin := h.p.AdminHandler(testAdminToken, h.reg)
	_, _, body := adminDo(t, admin, "GET", "/metrics", testAdminToken, "")
	for _, want := range []string{
		`foyer_joins_total{event="show",result="new"} 1`,
		`foyer_admissions_total{event="show"} 1`,
		`foyer_waiting{event="show"} 0`,
		`foyer_serving{event="show"} 1`,
		`foyer_admission_rate{event="show"} 1000`,
		`foyer_request_duration_seconds_count{route="join"} 1`,
		`foyer_store_up 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestAdminPatchEvent(t *testing.T) {
	h := newHarness(t)
	admin := h.p.AdminHandler(testAdminToken, h.reg)
	code, doc, raw := adminDo(t, admin, "PATCH", "/admin/v1/events/show", testAdminToken, `{"rate_per_second": 2.5, "state": "paused"}`)
	if code != 200 || doc["rate_per_second"] != 2.5 || doc["state"] != "paused" {
		t.Fatalf("PATCH: got %d %s, want 200 with rate 2.5 and state paused", code, raw)
	}
	// The change lives in the store, so every proxy sharing it follows.
	st, err := h.store.Advance(t.Context(), "show", queue.Seed{})
	if err != nil || st.Control != (queue.Control{RatePerSecond: 2.5, Paused: true}) {
		t.Fatalf("store control: got %+v, %v; want rate 2.5 paused", st.Control, err)
	}
	// A paused line admits nobody.
	r := h.do("POST", "/_foyer/v1/events/show/join", "Accept", "application/json")
	if doc := r.json(t); doc["state"] != "paused" {
		t.Errorf("join while paused: state %v, want paused", doc["state"])
	}
	h.waitRefresh("show")
	h.waitRefresh("show")
	if _, line, _ := h.p.Event("show"); line.Serving != 0 {
		t.Errorf("serving while paused: got %d, want 0", line.Serving)
	}
	code, doc, _ = adminDo(t, admin, "PATCH", "/admin/v1/events/show", testAdminToken, `{"state": "open"}`)
	if code != 200 || doc["state"] != "open" || doc["rate_per_second"] != 2.5 {
		t.Errorf("resume: got %d %v", code, doc)
	}

	bad := []struct{ body, field string }{
		{`{"rate_per_second": -1}`, "rate_per_second"},
		{`{"rate_per_second": 1e9}`, "rate_per_second"},
		{`{"state": "sideways"}`, "state"},
		{`{"rate": 5}`, "rate"},
		{`not json`, ""},
	}
	for _, b := range bad {
		code, doc, raw := adminDo(t, admin, "PATCH", "/admin/v1/events/show", testAdminToken, b.body)
		e, _ := doc["error"].(map[string]any)
		if code != 400 || e == nil || !strings.Contains(e["message"].(string), b.field) {
			t.Errorf("PATCH %s: got %d %s, want 400 naming %q", b.body, code, raw, b.field)
		}
	}
	if code, _, _ := adminDo(t, admin, "PATCH", "/admin/v1/events/nope", testAdminToken, `{}`); code != 404 {
		t.Errorf("unknown event: got %d, want 404", code)
	}
}

func TestReadyzWhileDraining(t *testing.T) {
	h := newHarness(t)
	admin := h.p.AdminHandler(testAdminToken, h.reg)
	h.p.Drain()
	if code, doc, _ := adminDo(t, admin, "GET", "/readyz", "", ""); code != 503 || doc["status"] != "draining" {
		t.Errorf("readyz while draining: got %d %v, want 503 draining", code, doc)
	}
	// Draining still serves visitors.
	if r := h.do("GET", "/", "Accept", "text/html"); r.status != 200 {
		t.Errorf("page while draining: got %d, want 200", r.status)
	}
}

// TestStoreUnreachable uses a Redis store whose server is not there: joins
// fail with a retryable 503, positions already issued stay valid, admitted
// visitors keep passing, and /readyz reports it.
func TestStoreUnreachable(t *testing.T) {
	mem := queue.NewMemory(nil)
	down := queue.NewRedis(redis.NewClient(&redis.Options{
		Addr: "127.0.0.1:1", DialTimeout: 50 * time.Millisecond, MaxRetries: -1,
	}), queue.RedisOptions{})
	var store switchStore
	store.Store = mem
	h := newHarness(t, func(c *Config, d *Deps) {
		d.Store = &store
		c.StoreTimeout = 200 * time.Millisecond
	})
	_, token, _ := h.admitted("show")
	if _, err := h.store.SetControl(t.Context(), "show", queue.Control{RatePerSecond: 0}, queue.Seed{}); err != nil {
		t.Fatal(err)
	}
	waiting := h.do("POST", "/_foyer/v1/events/show/join", "Accept", "application/json").json(t)
	h.waitRefresh("show")

	store.set(down)
	admin := h.p.AdminHandler(testAdminToken, h.reg)
	deadline := time.Now().Add(5 * time.Second)
	for h.p.StoreUp() {
		if time.Now().After(deadline) {
			t.Fatal("the proxy did not notice the store was down")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if code, doc, _ := adminDo(t, admin, "GET", "/readyz", "", ""); code != 503 || doc["status"] != "store_unreachable" {
		t.Errorf("readyz: got %d %v, want 503 store_unreachable", code, doc)
	}
	r := h.do("POST", "/_foyer/v1/events/show/join", "Accept", "application/json")
	if r.status != 503 || r.header("Retry-After") == "" {
		t.Fatalf("join with the store down: got %d (Retry-After %q), want 503 with Retry-After", r.status, r.header("Retry-After"))
	}
	if e, _ := r.json(t)["error"].(map[string]any); e["code"] != "store_unavailable" {
		t.Errorf("join error: got %v, want store_unavailable", e)
	}
	st := h.do("GET", "/_foyer/v1/events/show/status", "Accept", "application/json", "Foyer-Ticket", waiting["ticket"].(string)).json(t)
	if st["position"] != waiting["position"] {
		t.Errorf("issued position with the store down: got %v, want %v", st["position"], waiting["position"])
	}
	if r := h.do("GET", "/inside", "Authorization", "Bearer "+token); r.status != 200 {
		t.Errorf("admitted visitor with the store down: got %d, want 200", r.status)
	}
	if page := h.do("GET", "/", "Accept", "text/html"); page.status != 503 || !strings.Contains(string(page.body), `role="status"`) {
		t.Errorf("new browser with the store down: got %d, want 503 and the page that retries", page.status)
	}
}

// TestRedisRestartLosesNoPlace joins fans through the proxy, restarts Redis
// without persistence, and joins more: no position is issued twice, and the
// fans who joined before keep their places ahead of those who joined after.
func TestRedisRestartLosesNoPlace(t *testing.T) {
	srv := redistest.Start(t)
	store := queue.NewRedis(srv.Client(t), queue.RedisOptions{})
	h := newHarness(t, func(c *Config, d *Deps) {
		d.Store = store
		c.Events[0].RatePerSecond = 0
	})
	join := func() (ticket string, pos int) {
		doc := h.do("POST", "/_foyer/v1/events/show/join", "Accept", "application/json").json(t)
		return doc["ticket"].(string), int(doc["position"].(float64))
	}
	var before []string
	for i := range 20 {
		tk, pos := join()
		if pos != i+1 {
			t.Fatalf("join %d: position %d, want %d", i, pos, i+1)
		}
		before = append(before, tk)
	}
	h.waitRefresh("show")
	_, old, _ := h.p.Event("show")
	srv.Restart(t)
	// New fans arrive once the store is back.
	positions := map[int]bool{}
	var after []string
	for len(after) < 20 {
		r := h.do("POST", "/_foyer/v1/events/show/join", "Accept", "application/json")
		if r.status == 503 {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		doc := r.json(t)
		after = append(after, doc["ticket"].(string))
	}
	h.waitRefresh("show")
	if _, now, _ := h.p.Event("show"); now.Epoch <= old.Epoch || now.PrevEpoch != old.Epoch {
		t.Fatalf("after the restart: epoch %d (previous %d), want a new epoch following %d: the store did not lose the line", now.Epoch, now.PrevEpoch, old.Epoch)
	}
	for i, tk := range append(before, after...) {
		doc := h.do("GET", "/_foyer/v1/events/show/status", "Accept", "application/json", "Foyer-Ticket", tk).json(t)
		pos := int(doc["position"].(float64))
		if positions[pos] {
			t.Fatalf("fan %d: position %d was issued twice", i, pos)
		}
		positions[pos] = true
		if i < len(before) && pos != i+1 {
			t.Errorf("fan %d who joined before the restart: position %d, want %d", i, pos, i+1)
		}
		if i >= len(before) && pos <= len(before) {
			t.Errorf("fan %d who joined after the restart: position %d, ahead of earlier fans", i, pos)
		}
	}
}
