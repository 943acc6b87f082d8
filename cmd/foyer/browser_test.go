package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/foyerhq/foyer/admission"
	"github.com/foyerhq/foyer/internal/browsertest"
	"github.com/foyerhq/foyer/seating"
)

// The browser test is issue #5's "real browser" check: a fan in headless
// Chromium goes through the whole on-sale against foyer serve's own wiring,
// the queue pages pass axe-core, and screenshots of each step are written
// for people to look at (see browsertest.ScreenshotDir).

const (
	browserAdminToken = "browser-admin-token"
	// browserCrowd is how many synthetic fans join the pre-queue with the
	// browser. The draw puts the browser at a random place among them, so
	// the crowd is large enough that the browser is almost never drawn
	// first (1 in browserCrowd+1) and has a position to watch fall.
	browserCrowd = 400
	// browserWait is about how long the browser waits in line once the
	// line moves: long enough for several stream updates (one a second).
	browserWait = 6 * time.Second
	// saleStartDelay is when the sale starts, from the test's start, and
	// minCountdown how long before it the browser must have opened the
	// page: time to see the countdown tick, and for the crowd to join.
	saleStartDelay = 8 * time.Second
	minCountdown   = 4 * time.Second
)

// browserSite is foyer serve with a configuration file, run in this
// process, in front of the demo's seating service.
type browserSite struct {
	publicURL, adminURL, seatingURL string
	// tokens signs admission tokens with the proxy's key, for checking the
	// seating service's state as another admitted visitor.
	tokens *admission.Tokens
	// saleStartsAt is the configured sale start.
	saleStartsAt time.Time
}

// browserConfig is the configuration of the browser test's foyer serve: a
// pre-queue open since an hour, drawn at startsAt. The line starts at rate
// 0, so nobody moves until the test sets the rate.
func browserConfig(keyPath, origin string, startsAt time.Time) string {
	return fmt.Sprintf(`listen: 127.0.0.1:0
admin_listen: 127.0.0.1:0
admin_token: %s
shutdown:
  drain_delay: 0s
store:
  kind: memory
tokens:
  signing_key: %s
events:
  - name: demo
    title: Browser test on-sale
    path_prefix: /
    origin: %s
    rate_per_second: 0
    prequeue_opens_at: %s
    sale_starts_at: %s
    prequeue_closes_before: 1s
`, browserAdminToken, keyPath, origin,
		startsAt.Add(-time.Hour).UTC().Format(time.RFC3339Nano), startsAt.UTC().Format(time.RFC3339Nano))
}

// startBrowserSite starts the demo's seating service and foyer serve (the
// function the binary runs) with a pre-queue whose sale starts at
// saleStartsAt.
func startBrowserSite(t *testing.T, saleStartsAt time.Time) *browserSite {
	t.Helper()
	key, err := admission.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwk, err := admission.MarshalJWK(key, true)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	keyPath := filepath.Join(dir, "signing.jwk")
	if err := os.WriteFile(keyPath, jwk, 0o600); err != nil {
		t.Fatal(err)
	}
	keys, err := admission.NewKeySet(key)
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := admission.NewTokens(admission.Config{}, keys)
	if err != nil {
		t.Fatal(err)
	}

	// The demo's seating service, with its seat picker page, as the origin.
	seatLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	seat, err := newDemoSeating(t.Context(), keys, nil, newLogger(logConf{Level: "warn"}, io.Discard))
	if err != nil {
		seatLn.Close()
		t.Fatal(err)
	}
	seatDone := make(chan struct{})
	go func() { _ = seat.Serve(seatLn); close(seatDone) }()
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = seat.Shutdown(sctx)
		<-seatDone
	})
	origin := "http://" + seatLn.Addr().String()

	cfgPath := filepath.Join(dir, "foyer.yaml")
	if err := os.WriteFile(cfgPath, []byte(browserConfig(keyPath, origin, saleStartsAt)), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr := &lockedBuffer{}, &lockedBuffer{}
	served := make(chan error, 1)
	noEnv := func(string) string { return "" }
	go func() { served <- runServe(ctx, []string{"--config", cfgPath}, noEnv, stdout, stderr) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-served:
			if err != nil {
				t.Errorf("foyer serve: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("foyer serve did not stop within 20s")
		}
		if t.Failed() {
			t.Logf("foyer serve stderr:\n%s", stderr.String())
		}
	})

	s := &browserSite{seatingURL: origin, tokens: tokens, saleStartsAt: saleStartsAt}
	for deadline := time.Now().Add(20 * time.Second); s.publicURL == "" || s.adminURL == ""; {
		select {
		case err := <-served:
			served <- err // for the cleanup
			t.Fatalf("foyer serve stopped before serving: %v\n%s", err, stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("foyer serve printed no URLs within 20s:\n%s\n%s", stdout.String(), stderr.String())
		}
		for _, m := range urlLine.FindAllStringSubmatch(stdout.String(), -1) {
			switch m[1] {
			case "fan":
				s.publicURL = m[2]
			case "admin":
				s.adminURL = m[2]
			}
		}
	}
	return s
}

// admin calls the admin API and fails t unless it answers 200.
func (s *browserSite) admin(t *testing.T, method, path, body string) []byte {
	t.Helper()
	req, _ := http.NewRequest(method, s.adminURL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+browserAdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: got %d %s, want 200", method, path, resp.StatusCode, out)
	}
	return out
}

// metric reads one sample of the admin listener's /metrics; a sample that
// is absent reads 0.
func (s *browserSite) metric(t *testing.T, sample string) float64 {
	t.Helper()
	text := string(s.admin(t, "GET", "/metrics", ""))
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(sample) + ` (\S+)$`).FindStringSubmatch(text)
	if m == nil {
		return 0
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatalf("metric %s: %v", sample, err)
	}
	return v
}

// probeScript runs in every document before the page's own scripts: it
// counts the EventSource streams the page opens and the messages they
// carry, so the test can tell push updates from polling.
const probeScript = `(() => {
  const ES = window.EventSource;
  window.__foyerProbe = {streams: [], messages: 0};
  if (!ES) { return; }
  const Probe = function (url, opts) {
    const es = new ES(url, opts);
    window.__foyerProbe.streams.push(String(url));
    es.addEventListener("message", () => { window.__foyerProbe.messages++; });
    return es;
  };
  Probe.prototype = ES.prototype;
  window.EventSource = Probe;
})()`

// snapshotScript reads what the fan sees: the state the page was served
// in, the position shown (digits only, empty while hidden), the pre-queue
// countdown (proxy/page.html writes it in #message while #prequeue-note
// is shown), and whether this is the seat picker.
const snapshotScript = `(() => {
  const $ = id => document.getElementById(id);
  const shown = el => !!el && !el.hidden && el.offsetParent !== null;
  let doc = null;
  try { doc = JSON.parse($("foyer-status").textContent); } catch (e) {}
  return JSON.stringify({
    served: doc ? doc.state : "",
    position: shown($("figures")) && $("position") ? $("position").textContent.replace(/\D/g, "") : "",
    countdown: shown($("prequeue-note")) && shown($("message")) ? $("message").textContent.trim() : "",
    picker: !!$("rows") && !!$("hold"),
    probe: window.__foyerProbe || null,
  });
})()`

// clockText is a countdown's clock, e.g. 00:06.
var clockText = regexp.MustCompile(`\d\d:\d\d`)

// pageView is the result of snapshotScript.
type pageView struct {
	Served    string `json:"served"`
	Position  string `json:"position"`
	Countdown string `json:"countdown"`
	Picker    bool   `json:"picker"`
	Probe     *struct {
		Streams  []string `json:"streams"`
		Messages int      `json:"messages"`
	} `json:"probe"`
}

// view reads the page. It fails while the page is between two documents,
// which callers polling it retry.
func view(tab *browsertest.Tab) (pageView, error) {
	var v pageView
	ctx, cancel := context.WithTimeout(tab.Ctx, 5*time.Second)
	defer cancel()
	out, err := chromedp.Run(ctx, chromedp.Evaluate[string](snapshotScript))
	if err != nil {
		return v, err
	}
	err = json.Unmarshal([]byte(out), &v)
	return v, err
}

// waitView polls the page until cond holds, failing t after timeout with
// what it saw last.
func waitView(t *testing.T, tab *browsertest.Tab, what string, timeout time.Duration, cond func(pageView) bool) pageView {
	t.Helper()
	var last pageView
	var lastErr error
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		v, err := view(tab)
		if err != nil {
			lastErr = err
			continue
		}
		last, lastErr = v, nil
		if cond(v) {
			return v
		}
	}
	t.Fatalf("%s: not within %v; last seen %+v (err %v)", what, timeout, last, lastErr)
	return last
}

// do runs chromedp steps with a deadline, failing t on error.
func do(t *testing.T, tab *browsertest.Tab, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab.Ctx, 15*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// TestBrowserFanJourney: a fan in headless Chromium opens the on-sale
// during its pre-queue and sees the countdown, gets a place at the sale
// start, watches the position fall through Server-Sent Events, is admitted
// to the seat picker, holds a seat and buys it. The pre-queue and queue
// pages pass axe-core with no serious or critical violation, and
// screenshots of each step and of the SRE console are written.
func TestBrowserFanJourney(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	axe := browsertest.AxeSource(t)
	begin := time.Now()
	site := startBrowserSite(t, begin.Add(saleStartDelay))
	// Started second, the browser is closed first: foyer serve then shuts
	// down without waiting for the browser's connections.
	tab := browsertest.Start(t)
	if _, err := chromedp.Call(tab.Ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: probeScript}); err != nil {
		t.Fatalf("installing the stream probe: %v", err)
	}

	// Before the sale start: the pre-queue and its countdown.
	opened := time.Now()
	do(t, tab, "opening the on-sale", chromedp.Navigate(site.publicURL+"/"))
	left := site.saleStartsAt.Sub(opened)
	if left < minCountdown {
		t.Fatalf("setup took %v: the page opened %v before the sale start, too late to watch the countdown", opened.Sub(begin), left)
	}
	t.Logf("the page opened %v before the sale start (setup took %v)", left.Round(time.Millisecond), opened.Sub(begin).Round(time.Millisecond))
	v := waitView(t, tab, "pre-queue page with a countdown", 5*time.Second, func(v pageView) bool {
		return clockText.MatchString(v.Countdown)
	})
	if v.Served != "prequeue" || v.Position != "" {
		t.Errorf("page before the sale start: served in state %q with position %q, want prequeue and no position", v.Served, v.Position)
	}
	first := v.Countdown
	waitView(t, tab, "the countdown to tick", 3*time.Second, func(v pageView) bool {
		return clockText.MatchString(v.Countdown) && v.Countdown != first
	})
	tab.Screenshot(t, "1-prequeue")
	tab.RequireAccessible(t, axe, "pre-queue page")
	if v, err := view(tab); err != nil || !clockText.MatchString(v.Countdown) {
		t.Fatalf("the sale started during the pre-queue checks (%+v, %v): the setup is too slow", v, err)
	}
	// The crowd joins the pre-queue after the browser, over the JSON API:
	// arriving later gives them no disadvantage, the draw orders everyone.
	parallel(browserCrowd, func(i int) {
		code, doc := apiCall(t, "POST", site.publicURL+"/_foyer/v1/events/demo/join")
		if code != http.StatusOK || doc["state"] != "prequeue" {
			t.Errorf("crowd join %d: got %d %v, want 200 in the pre-queue", i, code, doc)
		}
	})
	if t.Failed() {
		t.FailNow()
	}

	// At the start: a place. The line stands still (rate 0), so the
	// waiting page can be checked calmly.
	v = waitView(t, tab, "a position after the draw", time.Until(site.saleStartsAt)+10*time.Second, func(v pageView) bool {
		return v.Position != ""
	})
	if early := time.Until(site.saleStartsAt); early > 0 {
		t.Errorf("position %s shown %v before the sale start, want none before the draw", v.Position, early)
	}
	start, _ := strconv.Atoi(v.Position)
	if start < 1 || start > browserCrowd+1 {
		t.Fatalf("position %q after the draw: want 1 to %d", v.Position, browserCrowd+1)
	}
	tab.Screenshot(t, "2-queue-waiting")
	tab.RequireAccessible(t, axe, "queue page (waiting)")

	// Move the line so that the fan's turn comes in about browserWait, and
	// watch the position fall until the seat picker replaces the page.
	rate := float64(start) / browserWait.Seconds()
	site.admin(t, "PATCH", "/admin/v1/events/demo", fmt.Sprintf(`{"rate_per_second": %g}`, rate))
	positions := []int{start}
	streams, messages := 0, 0
	waitView(t, tab, "admission to the seat picker", 4*browserWait, func(v pageView) bool {
		if v.Probe != nil {
			streams = max(streams, len(v.Probe.Streams))
			messages = max(messages, v.Probe.Messages)
			for _, u := range v.Probe.Streams {
				if !strings.Contains(u, "/_foyer/v1/events/demo/stream") {
					t.Errorf("the page opened an EventSource on %s, want the event's stream", u)
				}
			}
		}
		if p, err := strconv.Atoi(v.Position); err == nil && p != positions[len(positions)-1] {
			positions = append(positions, p)
		}
		return v.Picker
	})
	t.Logf("positions seen at %.3g admissions/s: %v; %d stream messages", rate, positions, messages)
	for i := 1; i < len(positions); i++ {
		if positions[i] >= positions[i-1] {
			t.Errorf("positions seen %v: want each lower than the one before", positions)
			break
		}
	}
	switch {
	case start == 1:
		// 1 chance in browserCrowd+1 with a pre-queue: nothing to fall.
		t.Logf("the draw put the browser first: no fall of the position to watch")
	case len(positions) < 2:
		t.Errorf("positions seen %v: want at least two, falling", positions)
	}
	if streams == 0 || messages < 2 {
		t.Errorf("the queue page opened %d EventSource streams carrying %d messages: want the stream in use, with at least 2 updates", streams, messages)
	}
	if n := site.metric(t, `foyer_sse_events_total{event="demo"}`); n < 2 {
		t.Errorf("foyer_sse_events_total: got %v, want at least 2 status documents pushed", n)
	}

	buySeat(t, tab, site)
	if ex := tab.Exceptions(); len(ex) > 0 {
		t.Errorf("uncaught exceptions in the pages: %q", ex)
	}
	screenshotConsole(t, tab, site, axe)
}

// buySeat picks the first free seat on the seat picker, holds it and
// confirms it, then checks with the seating service that it is sold.
func buySeat(t *testing.T, tab *browsertest.Tab, site *browserSite) {
	t.Helper()
	free := chromedp.CSS("#rows button.seat.s0")
	do(t, tab, "the seat map", chromedp.WaitVisible(free))
	tab.Screenshot(t, "3-seat-picker")
	ctx, cancel := context.WithTimeout(tab.Ctx, 10*time.Second)
	label, err := chromedp.Run(ctx, chromedp.AttributeValue(free, "aria-label"))
	cancel()
	m := regexp.MustCompile(`^Seat (\S+),`).FindStringSubmatch(label.Value)
	if err != nil || m == nil {
		t.Fatalf("first free seat's label: %q %v", label.Value, err)
	}
	seatID := m[1]
	do(t, tab, "holding seat "+seatID,
		chromedp.Click(free),
		chromedp.WaitEnabled(chromedp.ID("hold")),
		chromedp.Click(chromedp.ID("hold")),
		chromedp.WaitEnabled(chromedp.ID("confirm")),
	)
	info := waitText(t, tab, "hold-info", "Holding")
	if !strings.Contains(info, seatID) {
		t.Errorf("hold info %q: want seat %s", info, seatID)
	}
	do(t, tab, "confirming", chromedp.Click(chromedp.ID("confirm")))
	info = waitText(t, tab, "hold-info", "Sold:")
	if !strings.Contains(info, seatID) {
		t.Errorf("confirmation %q: want seat %s", info, seatID)
	}
	waitText(t, tab, "msg", "Confirmed")
	// The map shows the seat sold once the stand cache and the picker's
	// refresh (every 2s) have caught up.
	do(t, tab, "the seat map showing "+seatID+" sold",
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#rows button.seat[aria-label="Seat %s, sold"]`, seatID))))
	tab.Screenshot(t, "4-seat-confirmed")

	// The seating service agrees: the seat is sold (its stand cache may
	// lag a moment behind the confirmation).
	stand, index, ok := seating.DemoVenue().Seat(seatID)
	if !ok {
		t.Fatalf("seat %s is not in the demo venue", seatID)
	}
	token, _, err := site.tokens.Issue("browser-test-checker", "demo", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var got seating.Status
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		req, _ := http.NewRequest("GET", site.seatingURL+"/seating/v1/events/demo/stands/"+stand+"/status", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := fanClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || len(body) < seating.PackedSize(index+1) {
			t.Fatalf("stand %s status: %d, %d bytes", stand, resp.StatusCode, len(body))
		}
		if got = seating.StatusAt(body, index); got == seating.Sold || time.Now().After(deadline) {
			break
		}
	}
	if got != seating.Sold {
		t.Errorf("seat %s in the seating service: got status %d, want %d (sold)", seatID, got, seating.Sold)
	}
}

// waitText waits until the element with id contains want and returns its
// text.
func waitText(t *testing.T, tab *browsertest.Tab, id, want string) string {
	t.Helper()
	var text string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(tab.Ctx, 5*time.Second)
		text, _ = chromedp.Run(ctx, chromedp.TextContent(chromedp.ID(id)))
		cancel()
		if strings.Contains(text, want) {
			return text
		}
		if time.Now().After(deadline) {
			t.Fatalf("#%s: got %q, want it to contain %q", id, text, want)
		}
	}
}

// screenshotConsole opens the SRE console of the admin listener, the admin
// token given in the URL fragment as an operator's bookmark would, writes
// its screenshot once it shows the event, and checks it with axe-core.
func screenshotConsole(t *testing.T, tab *browsertest.Tab, site *browserSite, axe string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab.Ctx, 15*time.Second)
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(site.adminURL+"/admin/#token="+browserAdminToken))
	cancel()
	if err != nil {
		t.Fatalf("opening the console: %v", err)
	}
	if resp.Status != http.StatusOK {
		t.Fatalf("GET /admin/: got %d, want the console", resp.Status)
	}
	const shows = `document.body.innerText.includes("Browser test on-sale")`
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(tab.Ctx, 5*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](shows))
		cancel()
		if err == nil && ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the console did not show the event within 10s (%v)", err)
		}
	}
	tab.Screenshot(t, "5-console")
	tab.RequireAccessible(t, axe, "SRE console")
}
