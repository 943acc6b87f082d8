package proxy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/foyerhq/foyer/internal/browsertest"
	"github.com/foyerhq/foyer/queue"
)

// TestConsolePage checks that /admin/ serves the console without the token,
// holding no data, with the controls an operator needs, and a content
// security policy that allows its own inline script and style and nothing
// from elsewhere.
func TestConsolePage(t *testing.T) {
	h := newHarness(t)
	admin := h.p.AdminHandler(testAdminToken, h.reg)
	rec := adminServe(admin, adminRequest("GET", "/admin/", "", ""))
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("GET /admin/: got %d %q, want 200 text/html", rec.Code, rec.Header().Get("Content-Type"))
	}
	body := rec.Body.Bytes()
	// The page is the embedded file as is: nothing of the proxy's state
	// (events, token) is written into it.
	if !bytes.Equal(body, consoleHTML) {
		t.Error("the console page differs from the embedded file: it must carry no data")
	}
	page := string(body)
	for _, want := range []string{
		`data-act="pause"`, `data-act="resume"`, `data-form="rate"`, `data-form="max_active"`,
		`data-act="sold_out"`, `data-act="reopen"`,
		`<dialog id="confirm"`, `id="actor"`, `id="token"`, `type="password"`,
		`Audit log`, `data-chart="waiting"`, `data-chart="admitted"`, `data-chart="active"`,
		`data-chart="latency"`, `data-chart="errors"`, `data-chart="seats"`, `Controller decisions`,
		`/history?after=`, `/audit?limit=`, `X-Foyer-Actor`, `sessionStorage`, `localStorage`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the console page lacks %s", want)
		}
	}
	// Self-contained: no script, style, font or image from elsewhere.
	if m := regexp.MustCompile(`(?i)(src|href)\s*=\s*["']?(https?:)?//`).FindString(page); m != "" {
		t.Errorf("the console page loads from elsewhere: %s", m)
	}
	// Every input has a label; every button has text.
	if n, l := strings.Count(page, "<input"), strings.Count(page, "<label"); l < n {
		t.Errorf("the console page has %d inputs and %d labels", n, l)
	}
	if m := regexp.MustCompile(`<button[^>]*>\s*</button>`).FindString(page); m != "" {
		t.Errorf("a button without text: %s", m)
	}

	csp := rec.Header().Get("Content-Security-Policy")
	for _, tag := range []string{"script", "style"} {
		ms := regexp.MustCompile(`(?s)<`+tag+`>(.*?)</`+tag+`>`).FindAllStringSubmatch(page, -1)
		if len(ms) == 0 {
			t.Fatalf("no inline %s in the page", tag)
		}
		for _, m := range ms {
			sum := sha256.Sum256([]byte(m[1]))
			if want := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"; !strings.Contains(csp, tag+"-src "+want) {
				t.Errorf("Content-Security-Policy %q does not allow the page's %s (%s)", csp, tag, want)
			}
		}
	}
	for _, want := range []string{"default-src 'none'", "connect-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("Content-Security-Policy %q lacks %s", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") {
		t.Errorf("Content-Security-Policy allows unsafe-inline: %q", csp)
	}

	rec = adminServe(admin, adminRequest("GET", "/admin", "", ""))
	if rec.Code != 301 || rec.Header().Get("Location") != "/admin/" {
		t.Errorf("GET /admin: got %d to %q, want 301 to /admin/", rec.Code, rec.Header().Get("Location"))
	}
}

func TestHistoryRing(t *testing.T) {
	h := newHistory(3)
	for i := range 5 {
		h.add(Sample{Waiting: uint64(i)}, queue.State{})
	}
	seqs := func(ss []Sample) (out []uint64) {
		for _, s := range ss {
			out = append(out, s.Seq)
		}
		return out
	}
	tests := []struct {
		after uint64
		want  []uint64
	}{
		{0, []uint64{3, 4, 5}},
		{3, []uint64{4, 5}},
		{5, nil},
		{99, nil},
	}
	for _, tt := range tests {
		if got := seqs(h.after(tt.after)); !equalSeqs(got, tt.want) {
			t.Errorf("after(%d): got seqs %v, want %v", tt.after, got, tt.want)
		}
	}
}

func equalSeqs(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestHistoryAdmissionRate checks the admitted-per-second figure: the
// serving counter's advance over store time, none across an epoch change,
// and the average over a gap in which the line was not refreshed.
func TestHistoryAdmissionRate(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	line := func(epoch, serving uint64, at time.Duration) queue.State {
		return queue.State{Epoch: epoch, Serving: serving, At: t0.Add(at)}
	}
	steps := []struct {
		name string
		line queue.State
		want float64
	}{
		{"first sample", line(1, 100, 0), 0},
		{"50 in a second", line(1, 150, time.Second), 50},
		{"20 in half a second", line(1, 160, 1500*time.Millisecond), 20},
		{"not refreshed", line(1, 160, 1500*time.Millisecond), 0},
		{"average over the gap", line(1, 190, 3500*time.Millisecond), 15},
		{"new epoch", line(2, 10, 4500*time.Millisecond), 0},
		{"after the new epoch", line(2, 40, 5500*time.Millisecond), 30},
		{"never read", queue.State{}, 0},
		{"read again", line(2, 70, 6500*time.Millisecond), 30},
	}
	h := newHistory(10)
	for _, s := range steps {
		h.add(Sample{}, s.line)
		all := h.after(0)
		if got := all[len(all)-1].AdmittedPerSecond; got != s.want {
			t.Errorf("%s: admitted per second got %v, want %v", s.name, got, s.want)
		}
	}
}

// TestAdminHistory reads an event's history through the API: the samples
// Run takes every second, then those after a given one.
func TestAdminHistory(t *testing.T) {
	h := newHarness(t, func(c *Config, d *Deps) {
		c.Events[0].RatePerSecond = 25
	})
	admin := h.p.AdminHandler(testAdminToken, h.reg)
	h.do("POST", "/_foyer/v1/events/show/join", "Accept", "application/json")

	type historyDoc struct {
		Event           string   `json:"event"`
		IntervalSeconds float64  `json:"interval_seconds"`
		Capacity        int      `json:"capacity"`
		Samples         []Sample `json:"samples"`
	}
	get := func(query string) historyDoc {
		t.Helper()
		code, _, raw := adminDo(t, admin, "GET", "/admin/v1/events/show/history"+query, testAdminToken, "")
		if code != 200 {
			t.Fatalf("GET history%s: got %d %s", query, code, raw)
		}
		var d historyDoc
		if err := json.Unmarshal([]byte(raw), &d); err != nil {
			t.Fatal(err)
		}
		return d
	}
	// Run samples every second: wait for two samples.
	deadline := time.Now().Add(5 * time.Second)
	d := get("")
	for len(d.Samples) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("history after 5s: %d samples, want 2 (is the sampler started by Run?)", len(d.Samples))
		}
		time.Sleep(50 * time.Millisecond)
		d = get("")
	}
	if d.Event != "show" || d.IntervalSeconds != 1 || d.Capacity != historyLen {
		t.Errorf("history: got event %q interval %v capacity %d, want show 1 %d", d.Event, d.IntervalSeconds, d.Capacity, historyLen)
	}
	s := d.Samples[len(d.Samples)-1]
	if s.Seq < 2 || s.State != "open" || s.RatePerSecond != 25 || !s.StoreUp || s.At.IsZero() || s.Serving != 1 {
		t.Errorf("last sample: got %+v, want seq ≥ 2, open, rate 25, store up, serving 1", s)
	}
	if d.Samples[0].Seq >= s.Seq || !d.Samples[0].At.Before(s.At) {
		t.Errorf("samples are not oldest first: %+v", d.Samples)
	}
	if rest := get("?after=" + strconv.FormatUint(d.Samples[0].Seq, 10)); len(rest.Samples) == 0 || rest.Samples[0].Seq != d.Samples[0].Seq+1 {
		t.Errorf("?after=%d: got %+v, want the samples from %d", d.Samples[0].Seq, rest.Samples, d.Samples[0].Seq+1)
	}

	for _, q := range []string{"?after=-1", "?after=x", "?after=1.5"} {
		if code, doc, raw := adminDo(t, admin, "GET", "/admin/v1/events/show/history"+q, testAdminToken, ""); code != 400 || !strings.Contains(doc["error"].(map[string]any)["message"].(string), "after") {
			t.Errorf("history%s: got %d %s, want 400 naming after", q, code, raw)
		}
	}
	if code, _, _ := adminDo(t, admin, "GET", "/admin/v1/events/nope/history", testAdminToken, ""); code != 404 {
		t.Errorf("history of an unknown event: got %d, want 404", code)
	}
}

// TestTakeSamples samples the line directly: the figures of the line and
// its control, and the admission rate from the store's serving counter.
func TestTakeSamples(t *testing.T) {
	h := newHarness(t, func(c *Config, d *Deps) {
		c.Events[0].RatePerSecond = 0
	})
	for range 3 {
		h.do("POST", "/_foyer/v1/events/show/join", "Accept", "application/json")
	}
	if _, err := h.store.SetControl(t.Context(), "show", queue.Control{RatePerSecond: 1000, MaxActive: 7, Paused: true}, queue.Seed{}); err != nil {
		t.Fatal(err)
	}
	h.waitRefresh("show")
	h.waitRefresh("show")
	now := time.Now()
	h.p.takeSamples(now)
	got := h.p.admin().history["show"].after(0)
	if len(got) == 0 {
		t.Fatal("no sample taken")
	}
	s := got[len(got)-1]
	if s.State != "paused" || s.Waiting != 3 || s.MaxActive != 7 || s.RatePerSecond != 1000 || !s.At.Equal(now) {
		t.Errorf("sample: got %+v, want paused, 3 waiting, max_active 7, rate 1000 at %v", s, now)
	}
}

// TestConsoleInBrowser drives the console in headless Chromium: signing in
// with the token in the URL fragment, a change confirmed in the dialog with
// the operator's name (saved in the store and the audit log, shown in the
// page), a change cancelled (nothing sent), and the page's accessibility.
// It is skipped when no browser is installed (see internal/browsertest).
func TestConsoleInBrowser(t *testing.T) {
	h := newHarness(t)
	srv := httptest.NewServer(h.p.AdminHandler(testAdminToken, h.reg))
	t.Cleanup(srv.Close)
	tab := browsertest.Start(t)

	run := func(what string, a chromedp.Action[chromedp.Void]) {
		t.Helper()
		ctx, cancel := context.WithTimeout(tab.Ctx, 10*time.Second)
		defer cancel()
		if err := chromedp.Do(ctx, a); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	// waitFor polls a JavaScript condition until it holds.
	waitFor := func(what, cond string) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			ctx, cancel := context.WithTimeout(tab.Ctx, 5*time.Second)
			ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](cond))
			cancel()
			if err == nil && ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 10s (%v)", what, err)
			}
		}
	}
	text := func(sel string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(tab.Ctx, 5*time.Second)
		defer cancel()
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector(`+strconv.Quote(sel)+`).textContent`))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}

	run("opening the console", chromedp.Navigate(srv.URL+"/admin/#token="+testAdminToken))
	waitFor("the event shown", `document.querySelector('[data-f=name]')?.textContent === 'show'`)
	waitFor("the token out of the address bar", `location.hash === '' && sessionStorage.getItem('foyer-admin-token') !== null`)
	waitFor("a history sample charted", `document.querySelector('[data-chart=waiting] path') !== null`)

	// Set the rate: the dialog states the exact change and asks who.
	run("typing a rate", chromedp.SetValue(chromedp.CSS(`form[data-form=rate] input`), "80"))
	run("clicking Set rate", chromedp.Click(chromedp.CSS(`form[data-form=rate] button`)))
	waitFor("the confirmation", `document.getElementById('confirm').open`)
	if got, want := text("#confirm-text"), "Set the rate of 'show' from 1,000/s to 80/s?"; got != want {
		t.Errorf("confirmation: got %q, want %q", got, want)
	}
	run("giving a name", chromedp.SetValue(chromedp.CSS(`#actor`), "carol"))
	run("confirming", chromedp.Click(chromedp.CSS(`#confirm-ok`)))
	waitFor("the dialog closed", `!document.getElementById('confirm').open`)
	if _, line, _ := h.p.Event("show"); line.Control.RatePerSecond != 80 {
		t.Errorf("rate after the confirmed change: got %v, want 80", line.Control.RatePerSecond)
	}
	waitFor("the change in the page's audit log", `document.getElementById('audit-rows').textContent.includes('carol')`)

	// A cancelled change sends nothing; the name is remembered.
	run("clicking Pause", chromedp.Click(chromedp.CSS(`[data-act=pause]`)))
	waitFor("the confirmation", `document.getElementById('confirm').open`)
	if got, want := text("#confirm-text"), "Pause admission to 'show'? Nobody is let in until it is resumed; fans keep their places."; got != want {
		t.Errorf("confirmation: got %q, want %q", got, want)
	}
	waitFor("the name remembered", `document.getElementById('actor').value === 'carol'`)
	run("cancelling", chromedp.Click(chromedp.CSS(`#confirm-cancel`)))
	waitFor("the dialog closed", `!document.getElementById('confirm').open`)
	run("clicking Sold out", chromedp.Click(chromedp.CSS(`[data-act=sold_out]`)))
	waitFor("the confirmation", `document.getElementById('confirm').open`)
	run("confirming", chromedp.Click(chromedp.CSS(`#confirm-ok`)))
	waitFor("the sold-out state shown", `document.querySelector('[data-f=state]').textContent === 'Sold out'`)
	var changes []string
	for _, e := range h.p.admin().audit.list("", 10) {
		changes = append(changes, e.Actor+" "+e.summary())
	}
	if want := []string{"carol state: open → sold_out", "carol rate_per_second: 1000 → 80"}; strings.Join(changes, "; ") != strings.Join(want, "; ") {
		t.Errorf("audit log: got %q, want %q (the cancelled pause sends nothing)", changes, want)
	}
	waitFor("Reopen enabled", `!document.querySelector('[data-act=reopen]').disabled`)

	if ex := tab.Exceptions(); len(ex) > 0 {
		t.Errorf("the console threw: %v", ex)
	}
	tab.Screenshot(t, "proxy-console")
	tab.RequireAccessible(t, browsertest.AxeSource(t), "SRE console")
}
