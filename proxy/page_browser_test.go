package proxy

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/foyerhq/foyer/internal/browsertest"
)

// pageSnapshot is what a fan sees of the queue page.
type pageSnapshot struct {
	Headline, Message, Notice, Position, ETA, Title string
	MessageHidden, NoticeHidden, FiguresHidden      bool
}

const pageSnapshotScript = `JSON.stringify((function () {
  function el(id) { return document.getElementById(id); }
  return {
    Headline: el("headline").textContent, Title: document.title,
    Message: el("message").textContent, MessageHidden: el("message").hidden,
    Notice: el("notice").textContent, NoticeHidden: el("notice").hidden,
    Position: el("position").textContent, ETA: el("eta").textContent,
    FiguresHidden: el("figures").hidden,
  };
})())`

func snapshotPage(t *testing.T, tab *browsertest.Tab) pageSnapshot {
	t.Helper()
	out, err := chromedp.Run(tab.Ctx, chromedp.Evaluate[string](pageSnapshotScript))
	if err != nil {
		t.Fatalf("reading the page: %v", err)
	}
	var s pageSnapshot
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("reading the page: %v: %s", err, out)
	}
	return s
}

// TestPageScript runs the queue page's script in a real browser: it plays
// status documents on a preview (foyerPreview.show) and checks what the fan
// sees — the states, the countdown, the position that never goes back, and
// the estimate that never grows notably without a reason shown.
func TestPageScript(t *testing.T) {
	h := newHarness(t)
	tab := browsertest.Start(t)
	if err := chromedp.Do(tab.Ctx, chromedp.Navigate("http://"+h.addr+"/_foyer/v1/events/show/preview?state=prequeue")); err != nil {
		t.Fatal(err)
	}
	// The countdown ticks: 05:00 when served, less a second later.
	first := snapshotPage(t, tab)
	time.Sleep(1100 * time.Millisecond)
	second := snapshotPage(t, tab)
	countdown := regexp.MustCompile(`^The sale starts in 0[45]:\d\d\.$`)
	if !countdown.MatchString(first.Message) || !countdown.MatchString(second.Message) || first.Message == second.Message {
		t.Errorf("countdown: got %q then %q, want a ticking \"The sale starts in 04:59.\"", first.Message, second.Message)
	}

	show := func(doc string) pageSnapshot {
		t.Helper()
		if _, err := chromedp.Run(tab.Ctx, chromedp.Evaluate[bool]("foyerPreview.show("+doc+"), true")); err != nil {
			t.Fatalf("showing %s: %v", doc, err)
		}
		return snapshotPage(t, tab)
	}
	waiting := func(pos, eta int, notice string) string {
		d := map[string]any{"event": "show", "state": "waiting", "position": pos, "ahead": pos - 1, "eta_known": true,
			"eta_seconds": eta, "eta_low_seconds": eta * 95 / 100, "eta_high_seconds": eta * 105 / 100, "ticket": "t1"}
		if notice != "" {
			d["notice"] = notice
		}
		b, _ := json.Marshal(d)
		return string(b)
	}
	steps := []struct {
		name  string
		doc   string
		check func(s pageSnapshot) string
	}{
		{"waiting", waiting(100, 600, ""), func(s pageSnapshot) string {
			return want(s.Headline == "You are in line" && s.Position == "100" && s.ETA == "About 10 minutes" && s.NoticeHidden && !s.FiguresHidden && s.MessageHidden)
		}},
		{"a higher estimate without a reason rises slowly", waiting(100, 1200, ""), func(s pageSnapshot) string {
			return want(s.ETA == "About 10 minutes" && s.NoticeHidden)
		}},
		{"with a reason it is shown, and the reason too", waiting(100, 1200, "rate_lowered"), func(s pageSnapshot) string {
			return want(s.ETA == "About 20 minutes" && s.Notice == languages["en"].RateLowered)
		}},
		{"a wide range", `{"event":"show","state":"waiting","position":100,"eta_known":true,"eta_seconds":660,"eta_low_seconds":480,"eta_high_seconds":900,"ticket":"t1"}`, func(s pageSnapshot) string {
			return want(s.ETA == "Between 8 and 15 minutes")
		}},
		{"the position never goes back", waiting(120, 700, ""), func(s pageSnapshot) string {
			return want(s.Position == "100" && s.ETA == "About 10 minutes") // 700 s × 100/120
		}},
		{"paused", `{"event":"show","state":"paused","position":100,"eta_known":false,"notice":"paused","ticket":"t1"}`, func(s pageSnapshot) string {
			return want(s.ETA == "Paused" && s.Notice == languages["en"].Paused)
		}},
		{"after a pause a higher estimate is explained by it", waiting(100, 1800, ""), func(s pageSnapshot) string {
			return want(s.ETA == "About 30 minutes" && s.Notice == languages["en"].Paused)
		}},
		{"turn expired", waiting(5000, 6000, "turn_expired"), func(s pageSnapshot) string {
			return want(s.Notice == languages["en"].TurnExpired)
		}},
		{"sold out", `{"event":"show","state":"sold_out","refresh_after_ms":30000,"ticket":"t1"}`, func(s pageSnapshot) string {
			return want(s.Headline == "Sold out" && s.Message == "All tickets have been sold." && s.FiguresHidden && s.Title == "show — Sold out")
		}},
		{"ended", `{"event":"show","state":"closed","refresh_after_ms":30000}`, func(s pageSnapshot) string {
			return want(s.Headline == "This sale has ended" && s.FiguresHidden)
		}},
		{"not open yet", fmt.Sprintf(`{"event":"show","state":"closed","opens_at":%q}`, time.Now().Add(2*time.Hour+30*time.Second).UTC().Format(time.RFC3339)), func(s pageSnapshot) string {
			return want(s.Headline == "Not open yet" && strings.HasPrefix(s.Message, "The line opens at ") &&
				(strings.HasSuffix(s.Message, ", in 02:00:30.") || strings.HasSuffix(s.Message, ", in 02:00:29.")))
		}},
		{"drawing", fmt.Sprintf(`{"event":"show","state":"prequeue","sale_starts_at":%q,"member":"m1"}`, time.Now().Add(-time.Second).UTC().Format(time.RFC3339)), func(s pageSnapshot) string {
			return want(s.Headline == "You are in the pre-queue" && s.Message == "Drawing places…" && s.FiguresHidden)
		}},
	}
	for _, st := range steps {
		if msg := st.check(show(st.doc)); msg != "" {
			t.Errorf("%s: %s: got %+v", st.name, msg, snapshotPage(t, tab))
		}
	}
	if ex := tab.Exceptions(); len(ex) > 0 {
		t.Errorf("the page threw: %v", ex)
	}
}

func want(ok bool) string {
	if ok {
		return ""
	}
	return "not what the fan should see"
}
