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

func adminRequest(method, path, token, body string) *http.Request {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return req
}

func adminServe(h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func adminDo(t *testing.T, h http.Handler, method, path, token, body string) (int, map[string]any, string) {
	t.Helper()
	rec := adminServe(h, adminRequest(method, path, token, body))
	raw, _ := io.ReadAll(rec.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return rec.Code, m, string(raw)
}

func TestAdminAuth(t *testing.T) {
	h := newHarness(t)
	admin := h.p.AdminHandler(testAdminToken, h.reg)
	for _, path := range []string{"/metrics", "/admin/v1/events", "/admin/v1/events/show", "/admin/v1/events/show/history", "/admin/v1/audit"} {
		for _, tok := range []string{"", "wrong", testAdminToken + "x", strings.ToUpper(testAdminToken)} {
			if code, _, _ := adminDo(t, admin, "GET", path, tok, ""); code != 401 {
				t.Errorf("GET %s with token %q: got %d, want 401", path, tok, code)
			}
		}
		if code, _, _ := adminDo(t, admin, "GET", path, testAdminToken, ""); code != 200 {
			t.Errorf("GET %s with the token: got %d, want 200", path, code)
		}
	}
	// A change without the token is refused and changes nothing.
	if code, _, _ := adminDo(t, admin, "PATCH", "/admin/v1/events/show", "", `{"state":"paused"}`); code != 401 {
		t.Errorf("PATCH without the token: got %d, want 401", code)
	}
	if _, line, _ := h.p.Event("show"); line.Control.Paused {
		t.Error("PATCH without the token paused the line")
	}
	// Probes and the console page (which holds no data) need no token.
	for _, path := range []string{"/livez", "/readyz", "/admin/"} {
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
	if err != nil || st.Control.RatePerSecond != 2.5 || !st.Control.Paused || st.Control.SoldOut {
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
	if code, _, _ := adminDo(t, admin, "PATCH", "/admin/v1/events/nope", testAdminToken, `{"state": "open"}`); code != 404 {
		t.Errorf("unknown event: got %d, want 404", code)
	}
}

// TestAdminPatchValidation sends bad changes: each is refused with 400, an
// error naming the field at fault, and nothing changes in the store.
func TestAdminPatchValidation(t *testing.T) {
	h := newHarness(t)
	admin := h.p.AdminHandler(testAdminToken, h.reg)
	before, err := h.store.Advance(t.Context(), "show", queue.Seed{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, body, code, field string
	}{
		{"not json", `not json`, "invalid_body", "JSON object"},
		{"empty body", ``, "invalid_body", "JSON object"},
		{"array", `[1]`, "invalid_body", "JSON object"},
		{"two values", `{"state":"paused"} {"state":"open"}`, "invalid_body", "more than one"},
		{"no field", `{}`, "invalid_body", "names no field"},
		{"null", `null`, "invalid_body", "names no field"},
		{"unknown field", `{"rate": 5}`, "invalid_body", `"rate"`},
		{"rate negative", `{"rate_per_second": -1}`, "invalid_field", "rate_per_second"},
		{"rate too high", `{"rate_per_second": 1e9}`, "invalid_field", "rate_per_second"},
		{"rate a string", `{"rate_per_second": "fast"}`, "invalid_field", "rate_per_second"},
		{"max_active negative", `{"max_active": -1}`, "invalid_field", "max_active"},
		{"max_active fraction", `{"max_active": 1.5}`, "invalid_field", "max_active"},
		{"max_active too high", `{"max_active": 1e12}`, "invalid_field", "max_active"},
		{"max_active overflow", `{"max_active": 1e30}`, "invalid_field", "max_active"},
		{"state unknown", `{"state": "sideways"}`, "invalid_field", "state"},
		{"state closed", `{"state": "closed"}`, "invalid_field", "state"},
		{"state a number", `{"state": 1}`, "invalid_field", "state"},
		{"one bad field of two", `{"rate_per_second": 5, "state": "up"}`, "invalid_field", "state"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, doc, raw := adminDo(t, admin, "PATCH", "/admin/v1/events/show", testAdminToken, tt.body)
			e, _ := doc["error"].(map[string]any)
			if code != 400 || e == nil {
				t.Fatalf("got %d %s, want 400 with an error", code, raw)
			}
			if e["code"] != tt.code {
				t.Errorf("code: got %v, want %s", e["code"], tt.code)
			}
			if msg, _ := e["message"].(string); !strings.Contains(msg, tt.field) {
				t.Errorf("message: got %q, want it to name %q", msg, tt.field)
			}
		})
	}
	after, err := h.store.Advance(t.Context(), "show", queue.Seed{})
	if err != nil {
		t.Fatal(err)
	}
	if after.Control != before.Control {
		t.Errorf("control after rejected changes: got %+v, want it unchanged %+v", after.Control, before.Control)
	}
}

// TestAdminPatchStates walks the admission states through the API. Each
// change names only some fields: the others, including the session TTL and
// claim window no PATCH field sets, stay as they were.
func TestAdminPatchStates(t *testing.T) {
	h := newHarness(t)
	admin := h.p.AdminHandler(testAdminToken, h.reg)
	initial := queue.Control{RatePerSecond: 40, SessionTTL: 5 * time.Minute, ClaimWindow: 30 * time.Second}
	st, err := h.store.SetControl(t.Context(), "show", initial, queue.Seed{})
	if err != nil {
		t.Fatal(err)
	}
	// Wait until this proxy's view of the line has the control.
	deadline := time.Now().Add(5 * time.Second)
	for _, line, _ := h.p.Event("show"); line.At.Before(st.At); _, line, _ = h.p.Event("show") {
		if time.Now().After(deadline) {
			t.Fatal("the proxy did not see the control set in the store")
		}
		time.Sleep(5 * time.Millisecond)
	}
	steps := []struct {
		body  string
		state string
		want  queue.Control
	}{
		{`{"rate_per_second": 80}`, "open", queue.Control{RatePerSecond: 80}},
		{`{"max_active": 500}`, "open", queue.Control{RatePerSecond: 80, MaxActive: 500}},
		{`{"state": "paused"}`, "paused", queue.Control{RatePerSecond: 80, MaxActive: 500, Paused: true}},
		{`{"state": "sold_out"}`, "sold_out", queue.Control{RatePerSecond: 80, MaxActive: 500, Paused: true, SoldOut: true}},
		{`{"state": "paused"}`, "paused", queue.Control{RatePerSecond: 80, MaxActive: 500, Paused: true}},
		{`{"state": "sold_out", "rate_per_second": 0.5}`, "sold_out", queue.Control{RatePerSecond: 0.5, MaxActive: 500, Paused: true, SoldOut: true}},
		{`{"state": "open"}`, "open", queue.Control{RatePerSecond: 0.5, MaxActive: 500}},
		{`{"max_active": 0, "rate_per_second": 1000000}`, "open", queue.Control{RatePerSecond: 1e6}},
	}
	for _, s := range steps {
		code, doc, raw := adminDo(t, admin, "PATCH", "/admin/v1/events/show", testAdminToken, s.body)
		if code != 200 {
			t.Fatalf("PATCH %s: got %d %s, want 200", s.body, code, raw)
		}
		if doc["state"] != s.state || doc["rate_per_second"] != s.want.RatePerSecond || doc["max_active"] != float64(s.want.MaxActive) {
			t.Errorf("PATCH %s: got state %v rate %v max_active %v, want %s %v %d", s.body, doc["state"], doc["rate_per_second"], doc["max_active"], s.state, s.want.RatePerSecond, s.want.MaxActive)
		}
		want := s.want
		want.SessionTTL, want.ClaimWindow = initial.SessionTTL, initial.ClaimWindow
		got, err := h.store.Advance(t.Context(), "show", queue.Seed{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Control != want {
			t.Errorf("PATCH %s: store control got %+v, want %+v", s.body, got.Control, want)
		}
	}
}

func TestAdminEventStatusFields(t *testing.T) {
	h := newHarness(t)
	admin := h.p.AdminHandler(testAdminToken, h.reg)
	h.waitRefresh("show")
	code, doc, raw := adminDo(t, admin, "GET", "/admin/v1/events/show", testAdminToken, "")
	if code != 200 {
		t.Fatalf("GET: got %d %s", code, raw)
	}
	for _, f := range []string{
		"state", "rate_per_second", "max_active", "active_sessions", "pending_turns", "abandoned",
		"prequeue", "prequeue_members", "late", "session_ttl_seconds", "claim_window_seconds", "store_up", "origin_health",
	} {
		if _, ok := doc[f]; !ok {
			t.Errorf("event status lacks %q: %s", f, raw)
		}
	}
	// The harness's event has no adaptive control.
	if _, ok := doc["controller"]; ok {
		t.Errorf("event status without adaptive control has a controller: %v", doc["controller"])
	}
	if o, _ := doc["origin_health"].(map[string]any); o == nil || o["p99_ms"] == nil || o["error_rate"] == nil {
		t.Errorf("origin_health: got %v, want p99_ms and error_rate", doc["origin_health"])
	}

	// An admitted fan is an active session; a sold-out line turns newcomers
	// away.
	h.admitted("show")
	if _, doc, _ = adminDo(t, admin, "GET", "/admin/v1/events/show", testAdminToken, ""); doc["active_sessions"] != 1.0 {
		t.Errorf("active_sessions after one admission: got %v, want 1", doc["active_sessions"])
	}
	if code, doc, raw := adminDo(t, admin, "PATCH", "/admin/v1/events/show", testAdminToken, `{"state":"sold_out"}`); code != 200 || doc["state"] != "sold_out" {
		t.Fatalf("PATCH sold_out: got %d %s", code, raw)
	}
	if doc := h.do("POST", "/_foyer/v1/events/show/join", "Accept", "application/json").json(t); doc["state"] != "sold_out" {
		t.Errorf("join of a sold-out line: got state %v, want sold_out", doc["state"])
	}
}

// TestAdminChangeReachesEveryProxy runs two proxies on one store, as two
// processes share Redis: a change made through one proxy's admin API shows
// in the other's admin API and in the status documents it serves within a
// second (the refresh interval, 100 ms by default).
func TestAdminChangeReachesEveryProxy(t *testing.T) {
	interval := func(c *Config, d *Deps) { c.RefreshInterval = 100 * time.Millisecond }
	a := newHarness(t, interval)
	b := newHarness(t, interval, func(c *Config, d *Deps) { d.Store = a.store })
	adminA := a.p.AdminHandler(testAdminToken, a.reg)
	adminB := b.p.AdminHandler(testAdminToken, b.reg)

	// A fan waiting at proxy B on a line that admits nobody.
	if _, err := a.store.SetControl(t.Context(), "show", queue.Control{RatePerSecond: 0}, queue.Seed{}); err != nil {
		t.Fatal(err)
	}
	fan := b.do("POST", "/_foyer/v1/events/show/join", "Accept", "application/json").json(t)
	ticket, _ := fan["ticket"].(string)
	if ticket == "" || fan["state"] != "waiting" {
		t.Fatalf("join at B: got %v, want a waiting fan with a ticket", fan)
	}
	a.waitRefresh("show")

	start := time.Now()
	if code, _, raw := adminDo(t, adminA, "PATCH", "/admin/v1/events/show", testAdminToken, `{"state":"paused","rate_per_second":7}`); code != 200 {
		t.Fatalf("PATCH at A: got %d %s", code, raw)
	}
	var adminSeen, fanSeen time.Duration
	deadline := start.Add(5 * time.Second)
	for (adminSeen == 0 || fanSeen == 0) && time.Now().Before(deadline) {
		if adminSeen == 0 {
			if _, doc, _ := adminDo(t, adminB, "GET", "/admin/v1/events/show", testAdminToken, ""); doc["state"] == "paused" && doc["rate_per_second"] == 7.0 {
				adminSeen = time.Since(start)
			}
		}
		if fanSeen == 0 {
			if doc := b.do("GET", "/_foyer/v1/events/show/status", "Foyer-Ticket", ticket).json(t); doc["state"] == "paused" {
				fanSeen = time.Since(start)
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("the change reached proxy B's admin API after %v and its status documents after %v", adminSeen, fanSeen)
	if adminSeen == 0 || adminSeen > time.Second {
		t.Errorf("proxy B's admin API showed the change after %v, want within 1s (0 = not within 5s)", adminSeen)
	}
	if fanSeen == 0 || fanSeen > time.Second {
		t.Errorf("proxy B's status document showed the change after %v, want within 1s (0 = not within 5s)", fanSeen)
	}
	// Proxy B's audit log shows the change made through proxy A, and who
	// made it.
	code, doc, raw := adminDo(t, adminB, "GET", "/admin/v1/audit?event=show", testAdminToken, "")
	entries, _ := doc["entries"].([]any)
	if code != 200 || doc["source"] != "store" || len(entries) != 1 {
		t.Fatalf("proxy B's audit log: got %d %s, want the one change made at A, from the store", code, raw)
	}
	e := entries[0].(map[string]any)
	if e["proxy"] != a.p.id || e["outcome"] != auditApplied || e["actor"] != "anonymous" {
		t.Errorf("proxy B's audit entry: got %v, want the change applied by proxy A", e)
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
