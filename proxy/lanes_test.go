package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/foyerhq/foyer/internal/testclock"
)

var laneSecret = bytes.Repeat([]byte("p"), 32)

func withLanes(cfg *Config, d *Deps) {
	cfg.Events[0].RatePerSecond = 10
	cfg.Events[0].Lanes = []Lane{
		{Name: "access", Weight: 10, InviteCodes: []string{"A11Y-1", "A11Y-2"}},
		{Name: "presale", Weight: 30, EnqueueSecret: laneSecret},
		{Name: "general", Weight: 60},
	}
}

func enqueueToken(t *testing.T, secret []byte, method jwt.SigningMethod, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(secret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestLanes: visitors enter lanes with invite codes and signed enqueue
// tokens, one place per invite key, and admissions are dealt to the lanes
// by weight.
func TestLanes(t *testing.T) {
	clock := testclock.New(time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC))
	h := newHarness(t, withClock(clock), withLanes)
	exp := clock.Now().Add(time.Hour).Unix()
	presale := func(sub string) string {
		return enqueueToken(t, laneSecret, jwt.SigningMethodHS256, jwt.MapClaims{"evt": "show", "lane": "presale", "sub": sub, "exp": exp})
	}
	joinWith := func(headers ...string) (int, map[string]any) {
		t.Helper()
		r := h.do("POST", "/_foyer/v1/events/show/join", append([]string{"Accept", "application/json"}, headers...)...)
		if r.status != 200 {
			return r.status, nil
		}
		return r.status, r.json(t)
	}

	// Bad invitations are refused with 403 and take no place.
	bad := []struct {
		name    string
		headers []string
	}{
		{"unknown code", []string{"Foyer-Invite", "NOPE"}},
		{"token for another event", []string{"Foyer-Enqueue-Token", enqueueToken(t, laneSecret, jwt.SigningMethodHS256, jwt.MapClaims{"evt": "other", "lane": "presale", "sub": "u", "exp": exp})}},
		{"token for the open lane", []string{"Foyer-Enqueue-Token", enqueueToken(t, laneSecret, jwt.SigningMethodHS256, jwt.MapClaims{"evt": "show", "lane": "general", "sub": "u", "exp": exp})}},
		{"token with another secret", []string{"Foyer-Enqueue-Token", enqueueToken(t, bytes.Repeat([]byte("x"), 32), jwt.SigningMethodHS256, jwt.MapClaims{"evt": "show", "lane": "presale", "sub": "u", "exp": exp})}},
		{"expired token", []string{"Foyer-Enqueue-Token", enqueueToken(t, laneSecret, jwt.SigningMethodHS256, jwt.MapClaims{"evt": "show", "lane": "presale", "sub": "u", "exp": clock.Now().Add(-time.Hour).Unix()})}},
		{"token without exp", []string{"Foyer-Enqueue-Token", enqueueToken(t, laneSecret, jwt.SigningMethodHS256, jwt.MapClaims{"evt": "show", "lane": "presale", "sub": "u"})}},
		{"HS512 token", []string{"Foyer-Enqueue-Token", enqueueToken(t, laneSecret, jwt.SigningMethodHS512, jwt.MapClaims{"evt": "show", "lane": "presale", "sub": "u", "exp": exp})}},
		{"garbage token", []string{"Foyer-Enqueue-Token", "not.a.token"}},
	}
	for _, b := range bad {
		r := h.do("POST", "/_foyer/v1/events/show/join", append([]string{"Accept", "application/json"}, b.headers...)...)
		if r.status != 403 || r.json(t)["error"].(map[string]any)["code"] != "invalid_invite" {
			t.Errorf("%s: got %d %s, want 403 invalid_invite", b.name, r.status, r.body)
		}
	}
	if st := h.line("show"); st.Tail != 0 {
		t.Fatalf("refused invitations took places: tail %d", st.Tail)
	}

	// 12 general, 6 presale, 2 access visitors.
	var fans []*fan
	lanes := map[*fan]string{}
	add := func(lane string, headers ...string) *fan {
		t.Helper()
		status, doc := joinWith(headers...)
		if status != 200 || doc["lane"] != lane {
			t.Fatalf("join of lane %s: got %d %v", lane, status, doc)
		}
		f := &fan{doc: doc, ticket: doc["ticket"].(string)}
		fans = append(fans, f)
		lanes[f] = lane
		return f
	}
	for range 12 {
		add("general")
	}
	for i := range 6 {
		add("presale", "Foyer-Enqueue-Token", presale(fmt.Sprint("user-", i)))
	}
	a := add("access", "Foyer-Invite", "A11Y-1")
	add("access", "Foyer-Invite", "A11Y-2")

	// One place per invite key: the same code or key again, from anyone,
	// is the same place.
	if _, doc := joinWith("Foyer-Invite", "A11Y-1"); doc["position"] != a.doc["position"] || doc["lane"] != "access" {
		t.Errorf("the same code again: got %v, want position %v in lane access", doc, a.doc["position"])
	}
	_, again := joinWith("Foyer-Enqueue-Token", presale("user-0"))
	if again["position"] != fans[12].doc["position"] {
		t.Errorf("the same enqueue key again: got position %v, want %v", again["position"], fans[12].doc["position"])
	}
	// A client cannot ask for an invitation's visitor id.
	visitor := invitedVisitor("show", "access", "code", "A11Y-1")
	if _, doc := joinWith("Foyer-Visitor", visitor); doc["lane"] != "general" {
		t.Errorf("Foyer-Visitor with an invitation's id: got %v, want a new place in general", doc)
	}
	if st := h.line("show"); st.Waiting() != 21 {
		t.Fatalf("got %d waiting, want 21", st.Waiting())
	}

	// One second at 10/s: 1 access, 3 presale and 6 general visitors.
	clock.Add(time.Second)
	if st := h.line("show"); st.Serving == 0 || st.Lanes.Filled(0, st.Serving) != 10 {
		t.Fatalf("after 1s at 10/s: serving %d, %d issued numbers served; want 10", st.Serving, st.Lanes.Filled(0, st.Serving))
	}
	admitted := map[string]int{}
	for _, f := range fans {
		if h.poll("show", f)["state"] == "admitted" {
			admitted[lanes[f]]++
		}
	}
	if want := map[string]int{"access": 1, "presale": 3, "general": 6}; fmt.Sprint(admitted) != fmt.Sprint(want) {
		t.Errorf("admitted by lane: got %v, want %v", admitted, want)
	}
}

func TestLanesInviteOnly(t *testing.T) {
	h := newHarness(t, func(cfg *Config, d *Deps) {
		cfg.Events[0].Lanes = []Lane{
			{Name: "members", Weight: 1, InviteCodes: []string{"M-1"}},
			{Name: "partners", Weight: 1, EnqueueSecret: laneSecret},
		}
	})
	r := h.do("POST", "/_foyer/v1/events/show/join", "Accept", "application/json")
	if r.status != 403 || r.json(t)["error"].(map[string]any)["code"] != "invite_required" {
		t.Errorf("join without an invitation: got %d %s, want 403 invite_required", r.status, r.body)
	}
	if r := h.do("GET", "/x?foyer_invite=M-1", "Accept", "application/json"); r.status != 200 || r.json(t)["lane"] != "members" {
		t.Errorf("an event link with ?foyer_invite: got %d %s, want a place in lane members", r.status, r.body)
	}
}

func TestLanesConfig(t *testing.T) {
	base := func(lanes ...Lane) Config {
		return Config{Events: []Event{{Name: "e", Origin: "http://127.0.0.1:1", Lanes: lanes}}}.Defaults()
	}
	tests := []struct {
		name  string
		cfg   Config
		field string
	}{
		{"one lane", base(Lane{Name: "a", Weight: 1}), "events[0].lanes"},
		{"bad name", base(Lane{Name: "A B", Weight: 1}, Lane{Name: "b", Weight: 1, InviteCodes: []string{"x"}}), "events[0].lanes[0].name"},
		{"duplicate name", base(Lane{Name: "a", Weight: 1}, Lane{Name: "a", Weight: 1, InviteCodes: []string{"x"}}), "events[0].lanes[1].name"},
		{"zero weight", base(Lane{Name: "a", Weight: 0}, Lane{Name: "b", Weight: 1, InviteCodes: []string{"x"}}), "events[0].lanes[0].weight"},
		{"two open lanes", base(Lane{Name: "a", Weight: 1}, Lane{Name: "b", Weight: 1}), "events[0].lanes[1]"},
		{"short secret", base(Lane{Name: "a", Weight: 1}, Lane{Name: "b", Weight: 1, EnqueueSecret: []byte("short")}), "events[0].lanes[1].enqueue_secret"},
		{"shared code", base(Lane{Name: "a", Weight: 1, InviteCodes: []string{"x"}}, Lane{Name: "b", Weight: 1, InviteCodes: []string{"x"}}), "events[0].lanes[1].invite_codes"},
		{"pattern too long", base(Lane{Name: "a", Weight: 99}, Lane{Name: "b", Weight: 2, InviteCodes: []string{"x"}}), "events[0].lanes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field {
				t.Errorf("got %v, want a FieldError on %s", err, tt.field)
			}
		})
	}
	ok := base(Lane{Name: "access", Weight: 10, InviteCodes: []string{"x"}}, Lane{Name: "general", Weight: 90})
	if err := ok.Validate(); err != nil {
		t.Errorf("valid lanes: got %v", err)
	}
}
