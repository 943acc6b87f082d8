package proxy

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/foyerhq/foyer/admission"
	"github.com/foyerhq/foyer/queue"
)

func TestAdmittedRequestIsForwarded(t *testing.T) {
	h := newHarness(t)
	ticket, token, doc := h.admitted("show")
	if doc["redirect"] != "/" {
		t.Errorf("redirect: got %v, want /", doc["redirect"])
	}
	claims, err := h.tokens.Verify([]byte(token), "show", time.Now())
	if err != nil {
		t.Fatalf("admission token does not verify: %v", err)
	}
	r := h.do("GET", "/seats/A1?x=1",
		"Authorization", "Bearer "+token,
		"Connection", "keep-alive, X-Hop",
		"X-Hop", "drop me",
		"Keep-Alive", "timeout=5",
		"Proxy-Authorization", "Basic abc",
		"Foyer-Visitor", "forged-visitor-id-123",
		"X-Forwarded-For", "6.6.6.6",
	)
	if r.status != 200 || string(r.body) != "origin:/seats/A1" {
		t.Fatalf("got %d %q, want 200 from the origin", r.status, r.body)
	}
	seen := h.origin.seen()
	if len(seen) != 1 {
		t.Fatalf("origin saw %d requests, want 1", len(seen))
	}
	got := seen[0].headers
	for _, hop := range []string{"X-Hop", "Keep-Alive", "Proxy-Authorization"} {
		if v, ok := got[hop]; ok {
			t.Errorf("hop-by-hop header %s reached the origin: %q", hop, v)
		}
	}
	if got["Foyer-Visitor"] != claims.Visitor {
		t.Errorf("Foyer-Visitor: got %q, want the admitted visitor %q", got["Foyer-Visitor"], claims.Visitor)
	}
	if got["Foyer-Event"] != "show" {
		t.Errorf("Foyer-Event: got %q, want show", got["Foyer-Event"])
	}
	if got["X-Forwarded-For"] != "127.0.0.1" {
		t.Errorf("X-Forwarded-For from an untrusted peer: got %q, want 127.0.0.1", got["X-Forwarded-For"])
	}
	for _, hop := range []string{"X-Origin-Hop", "Keep-Alive"} {
		if v := r.header(hop); v != "" {
			t.Errorf("origin's hop-by-hop header %s reached the visitor: %q", hop, v)
		}
	}
	if ticket == "" {
		t.Error("join returned no ticket")
	}
	if n := h.counter("foyer_admissions_total", map[string]string{"event": "show"}); n != 1 {
		t.Errorf("foyer_admissions_total: got %v, want 1", n)
	}
}

func TestBrowserIsAdmittedByCookie(t *testing.T) {
	h := newHarness(t)
	page := h.do("GET", "/tickets", "Accept", "text/html")
	ticket := page.cookie(cookieTicketPrefix + "show")
	if page.status != 200 || ticket == "" {
		t.Fatalf("page: got %d with ticket cookie %q, want 200 and a ticket", page.status, ticket)
	}
	var admissionCookie string
	deadline := time.Now().Add(5 * time.Second)
	for admissionCookie == "" {
		if time.Now().After(deadline) {
			t.Fatal("no admission cookie within 5s")
		}
		h.waitRefresh("show")
		r := h.do("GET", "/_foyer/v1/events/show/status?return_to=/tickets", "Accept", "application/json", "Cookie", cookieTicketPrefix+"show="+ticket)
		admissionCookie = r.cookie(cookieAdmissionPrefix + "show")
		if admissionCookie != "" {
			sc := strings.Join(r.headers["set-cookie"], "\n")
			for _, attr := range []string{"HttpOnly", "SameSite=Lax"} {
				if !strings.Contains(sc, attr) {
					t.Errorf("admission cookie lacks %s: %s", attr, sc)
				}
			}
			if doc := r.json(t); doc["redirect"] != "/tickets" {
				t.Errorf("redirect: got %v, want /tickets (the page first asked for)", doc["redirect"])
			}
		}
	}
	r := h.do("GET", "/tickets", "Accept", "text/html", "Cookie", cookieAdmissionPrefix+"show="+admissionCookie)
	if string(r.body) != "origin:/tickets" {
		t.Fatalf("admitted browser: got %d %q, want the origin's page", r.status, r.body)
	}
}

func TestSecureCookies(t *testing.T) {
	h := newHarness(t, func(c *Config, _ *Deps) { c.SecureCookies = true })
	r := h.do("GET", "/", "Accept", "text/html")
	if sc := strings.Join(r.headers["set-cookie"], ";"); !strings.Contains(sc, "secure") {
		t.Errorf("ticket cookie without Secure: %s", sc)
	}
}

func TestQueuePage(t *testing.T) {
	h := newHarness(t, func(c *Config, _ *Deps) { c.Events[0].RatePerSecond = 0 })
	r := h.do("GET", "/shows/42", "Accept", "text/html,application/xhtml+xml")
	if r.status != 200 {
		t.Fatalf("got status %d, want 200", r.status)
	}
	if cc := r.header("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control: got %q, want no-store", cc)
	}
	body := string(r.body)
	for _, want := range []string{`role="status"`, "<noscript>", `id="position"`, `id="ahead"`, `id="eta"`, `id="updated"`, "/_foyer/v1/events/show/status?return_to=%2Fshows%2F42"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	// A meta refresh is only for visitors without JavaScript.
	if i := strings.Index(body, `http-equiv="refresh"`); i < 0 || !strings.Contains(body[:i], "<noscript>") || strings.Contains(body[strings.LastIndex(body[:i], "<noscript>"):i], "</noscript>") {
		t.Error("the meta refresh must sit inside <noscript>")
	}
	for _, ext := range []string{`src="http`, `href="http`, `src="//`, `href="//`, "@import"} {
		if strings.Contains(body, ext) {
			t.Errorf("page loads an external asset (%s)", ext)
		}
	}
	if len(h.origin.seen()) != 0 {
		t.Error("an unadmitted request reached the origin")
	}
}

func TestJoinIsIdempotent(t *testing.T) {
	h := newHarness(t, func(c *Config, _ *Deps) { c.Events[0].RatePerSecond = 0 })
	first := h.do("POST", "/_foyer/v1/events/show/join", "Accept", "application/json").json(t)
	ticket := first["ticket"].(string)
	for range 3 {
		again := h.do("POST", "/_foyer/v1/events/show/join", "Accept", "application/json", "Foyer-Ticket", ticket).json(t)
		if again["position"] != first["position"] {
			t.Fatalf("rejoin with a ticket: position %v, want %v", again["position"], first["position"])
		}
	}
	// An app without cookies retrying its join with its own visitor id.
	var pos any
	for i := range 3 {
		doc := h.do("POST", "/_foyer/v1/events/show/join", "Accept", "application/json", "Foyer-Visitor", "app-install-0123456789abcdef").json(t)
		if i > 0 && doc["position"] != pos {
			t.Fatalf("retried join: position %v, want %v", doc["position"], pos)
		}
		pos = doc["position"]
	}
	if _, st, _ := h.p.Event("show"); st.Tail != 2 {
		t.Errorf("tail: got %d, want 2 (one place per visitor)", st.Tail)
	}
}

// badTokens returns admission tokens that must all be rejected for event
// "show", by the reason they must be counted under.
func badTokens(t *testing.T, h *harness) map[string]string {
	t.Helper()
	now := time.Now()
	good, _, err := h.tokens.Issue("visitor-1", "show", now)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, ".")
	b64 := base64.RawURLEncoding.EncodeToString
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		t.Fatal(err)
	}
	sig[5] ^= 1
	expired, _, _ := h.tokens.Issue("visitor-1", "show", now.Add(-time.Hour))
	other, _, _ := h.tokens.Issue("visitor-1", "other-show", now)
	otherKey, _ := admission.GenerateKey(rand.Reader)
	otherSet, _ := admission.NewKeySet(otherKey)
	otherTokens, _ := admission.NewTokens(admission.Config{}, otherSet)
	unknownKid, _, _ := otherTokens.Issue("visitor-1", "show", now)
	var header struct {
		Kid string `json:"kid"`
	}
	raw, _ := base64.RawURLEncoding.DecodeString(parts[0])
	if err := json.Unmarshal(raw, &header); err != nil || header.Kid == "" {
		t.Fatalf("token header %s: %v", raw, err)
	}
	// Algorithm confusion: HMAC keyed with the public key the attacker knows.
	hsHeader := b64([]byte(`{"alg":"HS256","typ":"JWT","kid":"` + header.Kid + `"}`))
	mac := hmac.New(sha256.New, publicKeyOf(t, h))
	mac.Write([]byte(hsHeader + "." + parts[1]))
	return map[string]string{
		"forged":        parts[0] + "." + parts[1] + "." + b64(sig),
		"truncated":     good[:len(good)/2],
		"expired":       expired,
		"wrong event":   other,
		"alg none":      b64([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + ".",
		"alg confusion": hsHeader + "." + parts[1] + "." + b64(mac.Sum(nil)),
		"unknown kid":   unknownKid,
	}
}

func publicKeyOf(t *testing.T, h *harness) ed25519.PublicKey {
	keys, err := admission.ParseJWKS(h.keys.JWKS())
	if err != nil || len(keys) != 1 {
		t.Fatalf("JWKS: %v", err)
	}
	return keys[0].Public
}

func TestBadAdmissionTokensAreRejected(t *testing.T) {
	h := newHarness(t, func(c *Config, _ *Deps) { c.Events[0].RatePerSecond = 0 })
	for name, tok := range badTokens(t, h) {
		t.Run(name+"/api", func(t *testing.T) {
			r := h.do("GET", "/seats", "Accept", "application/json", "Authorization", "Bearer "+tok)
			if r.status != 401 {
				t.Fatalf("got status %d, want 401: %s", r.status, r.body)
			}
			if e, _ := r.json(t)["error"].(map[string]any); e["code"] != "invalid_admission" {
				t.Errorf("error: got %v, want code invalid_admission", e)
			}
		})
		t.Run(name+"/browser", func(t *testing.T) {
			r := h.do("GET", "/seats", "Accept", "text/html", "Cookie", cookieAdmissionPrefix+"show="+tok)
			if r.status != 200 || !strings.Contains(string(r.body), `role="status"`) {
				t.Fatalf("got %d, want 200 and the queue page", r.status)
			}
			if !strings.Contains(strings.Join(r.headers["set-cookie"], "\n"), cookieAdmissionPrefix+"show=;") {
				t.Errorf("the bad admission cookie was not cleared: %v", r.headers["set-cookie"])
			}
		})
	}
	if n := len(h.origin.seen()); n != 0 {
		t.Fatalf("%d requests with bad tokens reached the origin", n)
	}
	for _, reason := range []string{"signature", "malformed", "expired", "wrong_event", "algorithm", "unknown_key"} {
		if n := h.counter("foyer_token_rejections_total", map[string]string{"kind": kindAdmission, "reason": reason}); n < 2 {
			t.Errorf("rejections for reason %s: got %v, want at least 2 (api and browser)", reason, n)
		}
	}
}

func TestBadTicketsAreRejected(t *testing.T) {
	h := newHarness(t, func(c *Config, _ *Deps) { c.Events[0].RatePerSecond = 0 })
	doc := h.do("POST", "/_foyer/v1/events/show/join", "Accept", "application/json").json(t)
	good := doc["ticket"].(string)
	otherSigner, _ := queue.NewTicketSigner(queue.TicketKey{ID: "t1", Secret: []byte(strings.Repeat("x", 32))})
	forged := otherSigner.Sign(queue.Ticket{Event: "show", Visitor: "someone-else", Seq: 1, Epoch: 1, IssuedAt: time.Now()})
	unknownKey, _ := queue.NewTicketSigner(queue.TicketKey{ID: "t9", Secret: []byte(strings.Repeat("y", 32))})
	wrongEvent := h.tickets.Sign(queue.Ticket{Event: "other", Visitor: "v-1", Seq: 1, Epoch: 1, IssuedAt: time.Now()})
	cases := map[string]struct{ ticket, reason string }{
		"forged":      {forged, "signature"},
		"truncated":   {good[:len(good)-10], "malformed"},
		"garbage":     {"v1.%%%", "malformed"},
		"unknown key": {unknownKey.Sign(queue.Ticket{Event: "show", Visitor: "v-2", Seq: 1, Epoch: 1, IssuedAt: time.Now()}), "unknown_key"},
		"wrong event": {wrongEvent, "wrong_event"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			labels := map[string]string{"kind": kindTicket, "reason": c.reason}
			before := h.counter("foyer_token_rejections_total", labels)
			r := h.do("GET", "/_foyer/v1/events/show/status", "Accept", "application/json", "Foyer-Ticket", c.ticket)
			if r.status != 401 {
				t.Fatalf("api: got %d, want 401: %s", r.status, r.body)
			}
			if got := h.counter("foyer_token_rejections_total", labels); got != before+1 {
				t.Errorf("rejections{reason=%s}: got %v, want %v", c.reason, got, before+1)
			}
			page := h.do("GET", "/", "Accept", "text/html", "Cookie", cookieTicketPrefix+"show="+c.ticket)
			if page.status != 200 || page.cookie(cookieTicketPrefix+"show") == "" {
				t.Errorf("browser: got %d and ticket cookie %q, want the queue page with a fresh place", page.status, page.cookie(cookieTicketPrefix+"show"))
			}
		})
	}
}

func TestErrorsAreJSON4xx(t *testing.T) {
	h := newHarness(t, func(c *Config, _ *Deps) {
		c.MaxHeaderBytes = 4096
		c.MaxBodyBytes = 1024
		c.Events[0].Hosts = []string{"tickets.example"}
	})
	cases := []struct {
		name    string
		method  string
		uri     string
		headers []string
		body    string
		status  int
		code    string
	}{
		{"unknown host", "GET", "/", []string{"Host", "elsewhere.example"}, "", 404, "unknown_event"},
		{"unknown event", "GET", "/_foyer/v1/events/nope/status", nil, "", 404, "unknown_event"},
		{"unknown route", "GET", "/_foyer/v1/nothing", nil, "", 404, "not_found"},
		{"join with GET", "GET", "/_foyer/v1/events/show/join", nil, "", 405, "method_not_allowed"},
		{"status without ticket", "GET", "/_foyer/v1/events/show/status", nil, "", 400, "ticket_required"},
		{"oversized header", "GET", "/", []string{"Host", "tickets.example", "X-Big", strings.Repeat("a", 5000)}, "", 431, "headers_too_large"},
		{"oversized body", "POST", "/_foyer/v1/events/show/join", nil, strings.Repeat("b", 4096), 413, "body_too_large"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := h.doBody(c.method, c.uri, c.body, c.headers...)
			if r.status != c.status {
				t.Fatalf("got status %d, want %d: %s", r.status, c.status, r.body)
			}
			if e, _ := r.json(t)["error"].(map[string]any); e["code"] != c.code || e["message"] == "" {
				t.Errorf("error body: got %v, want code %s and a message", e, c.code)
			}
		})
	}
}

func TestForwardedForFromTrustedProxy(t *testing.T) {
	h := newHarness(t, func(c *Config, _ *Deps) {
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	})
	_, token, _ := h.admitted("show")
	h.do("GET", "/x", "Authorization", "Bearer "+token, "X-Forwarded-For", "203.0.113.7")
	seen := h.origin.seen()
	if got := seen[len(seen)-1].headers["X-Forwarded-For"]; got != "203.0.113.7, 127.0.0.1" {
		t.Errorf("X-Forwarded-For: got %q, want %q", got, "203.0.113.7, 127.0.0.1")
	}
}

func TestRouting(t *testing.T) {
	origin2 := startOrigin(t, nil)
	h := newHarness(t, func(c *Config, _ *Deps) {
		c.Events = append(c.Events,
			Event{Name: "vip", Hosts: []string{"Tickets.Example"}, PathPrefix: "/vip", Origin: "http://" + origin2.addr, RatePerSecond: 1},
			Event{Name: "merch", PathPrefix: "/merch/", Origin: "http://" + origin2.addr, RatePerSecond: 1},
		)
	})
	cases := []struct{ host, path, want string }{
		{"tickets.example", "/vip", "vip"},
		{"TICKETS.example:8080", "/vip/row-1", "vip"},
		{"tickets.example", "/vipx", "show"},
		{"other.example", "/vip", "show"},
		{"any", "/merch/shirt", "merch"},
		{"any", "/merch", "show"},
		{"any", "/", "show"},
	}
	for _, c := range cases {
		ev := h.p.match([]byte(c.host), []byte(c.path))
		if ev == nil || ev.cfg.Name != c.want {
			got := "<nil>"
			if ev != nil {
				got = ev.cfg.Name
			}
			t.Errorf("match(%q, %q): got %s, want %s", c.host, c.path, got, c.want)
		}
	}
}

func TestJWKS(t *testing.T) {
	h := newHarness(t)
	r := h.do("GET", "/_foyer/.well-known/jwks.json")
	keys, err := admission.ParseJWKS(r.body)
	if r.status != 200 || err != nil || len(keys) != 1 {
		t.Fatalf("got %d, %v, %d keys; want 200 and one key", r.status, err, len(keys))
	}
	if keys[0].Private != nil {
		t.Fatal("JWKS carries a private key")
	}
	_, token, _ := h.admitted("show")
	verifier, _ := admission.NewVerifyKeySet(keys...)
	origin, _ := admission.NewTokens(admission.Config{}, verifier)
	if _, err := origin.Verify([]byte(token), "show", time.Now()); err != nil {
		t.Errorf("an origin verifying with the served JWKS rejects a real token: %v", err)
	}
}

func TestOriginDown(t *testing.T) {
	h := newHarness(t, func(c *Config, _ *Deps) {
		c.Events[0].Origin = "http://127.0.0.1:1"
		c.OriginTimeout = time.Second
	})
	_, token, _ := h.admitted("show")
	r := h.do("GET", "/x", "Authorization", "Bearer "+token)
	if r.status != 502 {
		t.Fatalf("got %d, want 502: %s", r.status, r.body)
	}
	if n := h.counter("foyer_origin_errors_total", map[string]string{"event": "show"}); n != 1 {
		t.Errorf("foyer_origin_errors_total: got %v, want 1", n)
	}
}

func TestForwardedProto(t *testing.T) {
	cases := []struct {
		name    string
		trusted bool
		sent    string
		want    string
	}{
		{"untrusted peer cannot claim https", false, "https", "http"},
		{"trusted balancer's https is kept", true, "https", "https"},
		{"trusted peer without the header", true, "", "http"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, func(cfg *Config, _ *Deps) {
				if c.trusted {
					cfg.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
				}
			})
			_, token, _ := h.admitted("show")
			headers := []string{"Authorization", "Bearer " + token}
			if c.sent != "" {
				headers = append(headers, "X-Forwarded-Proto", c.sent)
			}
			h.do("GET", "/x", headers...)
			seen := h.origin.seen()
			if got := seen[len(seen)-1].headers["X-Forwarded-Proto"]; got != c.want {
				t.Errorf("X-Forwarded-Proto: got %q, want %q", got, c.want)
			}
		})
	}
}

// TestEventsSharingAHost: a browser in two events on one host keeps its
// place and admission in each.
func TestEventsSharingAHost(t *testing.T) {
	h := newHarness(t, func(c *Config, _ *Deps) {
		c.Events = append(c.Events, Event{Name: "vip", PathPrefix: "/vip", Origin: c.Events[0].Origin, RatePerSecond: 0})
	})
	_, _, _ = h.admitted("show")
	show := h.do("GET", "/", "Accept", "text/html")
	vip := h.do("GET", "/vip", "Accept", "text/html")
	if show.cookie(cookieTicketPrefix+"show") == "" || vip.cookie(cookieTicketPrefix+"vip") == "" {
		t.Fatalf("each event should set its own ticket cookie: %v / %v", show.headers["set-cookie"], vip.headers["set-cookie"])
	}
	if vip.cookie(cookieTicketPrefix+"show") != "" {
		t.Error("joining vip touched show's ticket cookie")
	}
}
