package proxy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// lockedBuffer is a bytes.Buffer safe for the proxy's goroutines to log to.
type lockedBuffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines returns the JSON log lines whose msg is msg.
func (b *lockedBuffer) lines(t *testing.T, msg string) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(b.buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			continue
		}
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// TestAdminAudit makes changes through the API and reads them back from the
// audit endpoint and from the log: who, from where, which event, each field
// before and after, and the outcome, newest first.
func TestAdminAudit(t *testing.T) {
	var logs lockedBuffer
	h := newHarness(t, func(c *Config, d *Deps) {
		c.Events[0].RatePerSecond = 40
		d.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	})
	admin := h.p.AdminHandler(testAdminToken, h.reg)
	h.waitRefresh("show")

	patch := func(actor, event, body string) int {
		req := adminRequest("PATCH", "/admin/v1/events/"+event, testAdminToken, body)
		if actor != "" {
			req.Header.Set("X-Foyer-Actor", actor)
		}
		req.RemoteAddr = "192.0.2.7:5123"
		return adminServe(admin, req).Code
	}
	if code := patch("alice", "show", `{"rate_per_second": 80, "state": "paused"}`); code != 200 {
		t.Fatalf("alice's change: got %d, want 200", code)
	}
	if code := patch("", "show", `{"max_active": -5}`); code != 400 {
		t.Fatalf("anonymous bad change: got %d, want 400", code)
	}
	if code := patch("bob", "nope", `{"state": "open"}`); code != 404 {
		t.Fatalf("change of an unknown event: got %d, want 404", code)
	}

	code, doc, raw := adminDo(t, admin, "GET", "/admin/v1/audit", testAdminToken, "")
	if code != 200 {
		t.Fatalf("GET audit: got %d %s", code, raw)
	}
	var got struct {
		Entries []AuditEntry `json:"entries"`
	}
	if err := json.Unmarshal([]byte(raw), &got); err != nil {
		t.Fatal(err)
	}
	if doc["capacity"] != float64(auditCapacity) {
		t.Errorf("capacity: got %v, want %d", doc["capacity"], auditCapacity)
	}
	if len(got.Entries) != 3 {
		t.Fatalf("audit entries: got %d, want 3: %s", len(got.Entries), raw)
	}
	want := []struct {
		actor, event, outcome string
		status                int
		changes               string
	}{
		{"bob", "nope", auditRejected, 404, "[]"},
		{"anonymous", "show", auditRejected, 400, `[{"field":"max_active","before":0,"after":-5}]`},
		{"alice", "show", auditApplied, 200, `[{"field":"rate_per_second","before":40,"after":80},{"field":"state","before":"open","after":"paused"}]`},
	}
	for i, w := range want {
		e := got.Entries[i]
		changes, _ := json.Marshal(e.Changes)
		if e.Actor != w.actor || e.Event != w.event || e.Outcome != w.outcome || e.Status != w.status || string(changes) != w.changes {
			t.Errorf("entry %d: got %s %s %s %d %s, want %s %s %s %d %s", i, e.Actor, e.Event, e.Outcome, e.Status, changes, w.actor, w.event, w.outcome, w.status, w.changes)
		}
		if e.RemoteAddr != "192.0.2.7:5123" || e.At.IsZero() {
			t.Errorf("entry %d: remote address %q at %v, want 192.0.2.7:5123 and a time", i, e.RemoteAddr, e.At)
		}
		if (e.Outcome == auditApplied) != (e.Error == "") {
			t.Errorf("entry %d: outcome %s with error %q", i, e.Outcome, e.Error)
		}
	}
	if got.Entries[0].ID <= got.Entries[1].ID || got.Entries[1].ID <= got.Entries[2].ID {
		t.Errorf("entries are not newest first: ids %d, %d, %d", got.Entries[0].ID, got.Entries[1].ID, got.Entries[2].ID)
	}

	// ?event= and ?limit= narrow the list; a bad limit is refused.
	_, _, raw = adminDo(t, admin, "GET", "/admin/v1/audit?event=show&limit=1", testAdminToken, "")
	got.Entries = nil
	_ = json.Unmarshal([]byte(raw), &got)
	if len(got.Entries) != 1 || got.Entries[0].Actor != "anonymous" {
		t.Errorf("?event=show&limit=1: got %s, want the anonymous entry alone", raw)
	}
	for _, q := range []string{"limit=0", "limit=x", fmt.Sprintf("limit=%d", auditCapacity+1)} {
		if code, doc, raw := adminDo(t, admin, "GET", "/admin/v1/audit?"+q, testAdminToken, ""); code != 400 || !strings.Contains(fmt.Sprint(doc["error"]), "limit") {
			t.Errorf("?%s: got %d %s, want 400 naming limit", q, code, raw)
		}
	}

	// Each entry is one log line: the durable record.
	lines := logs.lines(t, "admin change")
	if len(lines) != 3 {
		t.Fatalf("log lines: got %d, want 3", len(lines))
	}
	l := lines[0]
	rate, _ := l["rate_per_second"].(map[string]any)
	if l["actor"] != "alice" || l["event"] != "show" || l["outcome"] != auditApplied || l["remote_addr"] != "192.0.2.7:5123" ||
		rate["before"] != 40.0 || rate["after"] != 80.0 || !strings.Contains(fmt.Sprint(l["changes"]), "state: open → paused") {
		t.Errorf("log line of alice's change: got %v", l)
	}
	if lines[1]["level"] != "WARN" || lines[1]["error"] == nil {
		t.Errorf("log line of a rejected change: got %v, want level WARN with the error", lines[1])
	}
}

func TestAuditLogRing(t *testing.T) {
	a := newAuditLog(3)
	log := slog.New(slog.DiscardHandler)
	for i := range 5 {
		ev := "a"
		if i%2 == 1 {
			ev = "b"
		}
		a.record(log, AuditEntry{Event: ev, Outcome: auditApplied})
	}
	ids := func(es []AuditEntry) string {
		var s []string
		for _, e := range es {
			s = append(s, fmt.Sprint(e.ID))
		}
		return strings.Join(s, ",")
	}
	tests := []struct {
		event string
		limit int
		want  string
	}{
		{"", 10, "5,4,3"},
		{"", 2, "5,4"},
		{"a", 10, "5,3"},
		{"b", 10, "4"},
		{"c", 10, ""},
	}
	for _, tt := range tests {
		if got := ids(a.list(tt.event, tt.limit)); got != tt.want {
			t.Errorf("list(%q, %d): got ids %q, want %q", tt.event, tt.limit, got, tt.want)
		}
	}
}

func TestActorName(t *testing.T) {
	tests := []struct{ header, want string }{
		{"alice", "alice"},
		{"  Alice Smith  ", "Alice Smith"},
		{"", "anonymous"},
		{"   ", "anonymous"},
		{"\x00\x1b[31m", "[31m"},
		{"eve\nlevel=ERROR", "evelevel=ERROR"},
		{"\xff\xfe", "anonymous"},
		{"Zoë 🎫", "Zoë 🎫"},
		{strings.Repeat("é", 100), strings.Repeat("é", maxActorLen)},
	}
	for _, tt := range tests {
		if got := actorName(tt.header); got != tt.want {
			t.Errorf("actorName(%q): got %q, want %q", tt.header, got, tt.want)
		}
	}
}
