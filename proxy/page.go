package proxy

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"math/rand/v2"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

// pageSource is the default queue page and the templates custom pages
// build on (template.go).
//
//go:embed page.html
var pageSource string

// pageDoc is the status document as the queue page reads it: the page is a
// function of the event, the language and this document, whether the
// document describes a real visitor or a preview's sample.
type pageDoc struct {
	Event          string `json:"event"`
	State          string `json:"state"`
	Position       uint64 `json:"position,omitempty"`
	Ahead          uint64 `json:"ahead,omitempty"`
	ETAKnown       bool   `json:"eta_known"`
	ETASeconds     int64  `json:"eta_seconds,omitempty"`
	ETALowSeconds  int64  `json:"eta_low_seconds,omitempty"`
	ETAHighSeconds int64  `json:"eta_high_seconds,omitempty"`
	Notice         string `json:"notice,omitempty"`
	SaleStartsAt   string `json:"sale_starts_at,omitempty"`
	OpensAt        string `json:"opens_at,omitempty"`
	Member         string `json:"member,omitempty"`
	Redirect       string `json:"redirect,omitempty"`
	RefreshAfterMS int64  `json:"refresh_after_ms,omitempty"`
}

// wait is the document's estimate.
func (d *pageDoc) wait() waitEstimate {
	sec := func(s int64) time.Duration { return time.Duration(s) * time.Second }
	w := waitEstimate{Known: d.ETAKnown, Wait: sec(d.ETASeconds), Low: sec(d.ETALowSeconds), High: sec(d.ETAHighSeconds)}
	if w.Low == 0 && w.High == 0 {
		w.Low, w.High = w.Wait, w.Wait
	}
	return w
}

// pageData are the variables of a queue page template, documented for
// template authors in docs/branding.md. Keep the two in step.
type pageData struct {
	Lang  string // the page's language: en, zh, es, fr or de
	T     *texts // every text of the page in that language, with the event's overrides
	Event string // the event's name
	Title string // the event's title

	// State is the status document's state, or "unavailable" when the
	// store could not give a place. InLine is true while waiting or paused:
	// the page then shows a position and an estimate.
	State  string
	InLine bool

	Headline string // the page's main heading for State
	Message  string // the main text of states without a position; may be empty
	Notice   string // a notice to the fan (paused, turn expired, …); may be empty

	Position string // the position, digits grouped: 12,345
	Ahead    string // the people ahead, digits grouped
	ETA      string // the estimated wait in words: "About 5 minutes"

	Member      string // the fan's draw id, in the pre-queue
	CountdownTo string // RFC 3339: the sale start (prequeue) or the opening (closed)
	Redirect    string // where an admitted fan goes

	UpdatedISO  string // RFC 3339 time of the page
	UpdatedText string // the same, as the page shows it

	Brand   brand   // the event's logo and colours
	Doc     pageDoc // the status document's fields
	Preview bool    // the page is a preview: its script neither polls nor redirects

	// The plumbing of the page's script and of its refresh without
	// JavaScript, used by the "foyer-head" and "foyer-script" templates.
	DocJSON         template.JS
	StatusURL       string
	StreamURL       string
	ServerTimeMS    int64
	NoScriptRefresh int
	NoScriptText    string
}

// servePage answers a browser that is not admitted with the queue page,
// joining the line when it has no ticket.
func (p *Proxy) servePage(ctx *fasthttp.RequestCtx, ev *event, now time.Time) {
	v, _ := p.place(ctx, ev, now, true, true)
	redirect := string(ctx.RequestURI())
	t := pickLanguage(ctx.Request.Header.Peek(fasthttp.HeaderAcceptLanguage))
	status := fasthttp.StatusOK
	var doc []byte
	if v.joinError != nil {
		status = fasthttp.StatusServiceUnavailable
		ctx.Response.Header.Set(fasthttp.HeaderRetryAfter, "3")
		doc = fmt.Appendf(nil, `{"event":%q,"state":"unavailable","refresh_after_ms":%d}`, ev.cfg.Name, 2000+rand.IntN(2000))
	} else {
		doc = p.appendStatus(nil, ev, &v, []byte(redirect))
	}
	p.renderPage(ctx, ev, t, doc, redirect, now, false, status)
}

// renderPage answers with ev's page for the status document doc in the
// language of t.
func (p *Proxy) renderPage(ctx *fasthttp.RequestCtx, ev *event, t *texts, doc []byte, redirect string, now time.Time, preview bool, status int) {
	ep := ev.pageOf()
	var d pageDoc
	if err := json.Unmarshal(doc, &d); err != nil {
		// appendStatus writes valid JSON; render what can be rendered.
		p.log.Error("queue page: reading the status document", "event", ev.cfg.Name, "err", err)
	}
	data := ep.data(ev.cfg, ep.texts[t.Lang], &d, doc, redirect, now, preview)
	ctx.SetStatusCode(status)
	ctx.Response.Header.SetContentType("text/html; charset=utf-8")
	ctx.Response.Header.Set(fasthttp.HeaderCacheControl, "no-store")
	ctx.Response.Header.Set(fasthttp.HeaderVary, "Accept-Language")
	ctx.Response.Header.Set("X-Content-Type-Options", "nosniff")
	ctx.Response.Header.Set("Referrer-Policy", "no-referrer")
	ctx.Response.Header.Set("Content-Security-Policy", ep.csp)
	if err := ep.tmpl.Execute(ctx, data); err != nil {
		p.log.Error("rendering queue page", "event", ev.cfg.Name, "err", err)
	}
}

// data works out the variables of the page for document d.
func (ep *eventPage) data(cfg Event, t *texts, d *pageDoc, doc []byte, redirect string, now time.Time, preview bool) pageData {
	pd := pageData{
		Lang:            t.Lang,
		T:               t,
		Event:           cfg.Name,
		Title:           cfg.Title,
		State:           d.State,
		InLine:          d.State == "waiting" || d.State == "paused",
		Headline:        headlineOf(t, d),
		Member:          d.Member,
		Redirect:        d.Redirect,
		UpdatedISO:      now.UTC().Format(time.RFC3339),
		UpdatedText:     now.UTC().Format("15:04:05 UTC"),
		Brand:           ep.brand,
		Doc:             *d,
		Preview:         preview,
		DocJSON:         template.JS(doc),
		StatusURL:       "/_foyer/v1/events/" + cfg.Name + "/status?return_to=" + url.QueryEscape(redirect),
		StreamURL:       "/_foyer/v1/events/" + cfg.Name + "/stream?return_to=" + url.QueryEscape(redirect),
		ServerTimeMS:    now.UnixMilli(),
		NoScriptRefresh: 20 + rand.IntN(20),
	}
	switch d.State {
	case "unavailable":
		pd.Notice = t.Unavailable
		pd.NoScriptRefresh = 5
	case "admitted":
		pd.Notice = t.Taking
	case "prequeue":
		pd.CountdownTo = d.SaleStartsAt
		pd.Message = t.PrequeueDrawing
		if at, err := time.Parse(time.RFC3339, d.SaleStartsAt); err == nil && at.After(now) {
			pd.Message = strings.ReplaceAll(t.PrequeueStartsIn, "{t}", countdown(at.Sub(now)))
		}
	case "closed":
		pd.Message = t.EndedMessage
		if at, err := time.Parse(time.RFC3339, d.OpensAt); err == nil {
			pd.CountdownTo = d.OpensAt
			pd.Message = t.ClosedOpening
			if at.After(now) {
				pd.Message = strings.NewReplacer("{at}", at.UTC().Format("2006-01-02 15:04 UTC"), "{t}", countdown(at.Sub(now))).Replace(t.ClosedOpens)
			}
		}
		pd.NoScriptRefresh = 60
	case "sold_out":
		pd.Message = t.SoldOut
		pd.NoScriptRefresh = 60
	default:
		pd.Position = groupDigits(d.Position, t.Sep)
		pd.Ahead = groupDigits(d.Ahead, t.Sep)
		pd.ETA = etaText(t, d.wait(), d.State == "paused")
	}
	// A lowered rate is shown by the script only when the estimate it shows
	// grows; a pause and an expired turn are news at any time.
	switch d.Notice {
	case noticePaused:
		pd.Notice = t.Paused
	case "turn_expired":
		pd.Notice = t.TurnExpired
	}
	pd.NoScriptText = strings.ReplaceAll(t.NoScript, "{n}", strconv.Itoa(pd.NoScriptRefresh))
	return pd
}

// headlineOf is the page's heading for the state of d. A state this page
// does not know yet reads as waiting.
func headlineOf(t *texts, d *pageDoc) string {
	switch d.State {
	case "admitted":
		return t.Turn
	case "unavailable":
		return t.Joining
	case "prequeue":
		return t.PrequeueHeadline
	case "closed":
		if d.OpensAt != "" {
			return t.ClosedHeadline
		}
		return t.EndedHeadline
	case "sold_out":
		return t.SoldOutHeadline
	}
	return t.Headline
}

// countdown writes d, rounded up to the second, as MM:SS, or HH:MM:SS from
// an hour on.
func countdown(d time.Duration) string {
	s := int64((d + time.Second - 1) / time.Second)
	h, m := s/3600, s/60%60
	s %= 60
	if h > 0 {
		return fmt.Sprintf("%02d:%02d:%02d", h, m, s)
	}
	return fmt.Sprintf("%02d:%02d", m, s)
}

// roundMinutes is a wait in whole minutes as the page says it: to the
// minute under an hour, then to 5 minutes, to 15 from 3 hours and to the
// hour from 10 hours, where more precision would be false.
func roundMinutes(d time.Duration) int {
	m := int((d + 30*time.Second) / time.Minute)
	for _, r := range [...]struct{ from, step int }{{600, 60}, {180, 15}, {60, 5}} {
		if m >= r.from {
			return (m + r.step/2) / r.step * r.step
		}
	}
	return m
}

// wideRange reports whether the range of w is worth saying rather than its
// middle: the high end is at least 1.5 times the low one and they differ
// by two minutes or more once rounded.
func wideRange(w waitEstimate) bool {
	lo, hi := max(1, roundMinutes(w.Low)), roundMinutes(w.High)
	return float64(w.High) >= 1.5*float64(w.Low) && hi-lo >= 2
}

// etaText is the estimated wait as the page first shows it; the page's
// script keeps it current with the same wording and rounding: "About 5
// minutes", or "Between 8 and 15 minutes" when the range is wide.
func etaText(t *texts, w waitEstimate, paused bool) string {
	switch {
	case !w.Known && paused:
		return t.ETAPaused
	case !w.Known:
		return t.ETAUnknown
	case wideRange(w):
		lo, hi := max(1, roundMinutes(w.Low)), roundMinutes(w.High)
		if hi < 60 {
			return strings.NewReplacer("{a}", strconv.Itoa(lo), "{b}", strconv.Itoa(hi)).Replace(t.ETABetweenMinutes)
		}
		return strings.NewReplacer("{a}", durationText(t, lo), "{b}", durationText(t, hi)).Replace(t.ETABetween)
	case w.Wait < time.Minute:
		return t.ETALess
	}
	m := roundMinutes(w.Wait)
	switch {
	case m == 1:
		return t.ETAMinute
	case m < 60:
		return strings.ReplaceAll(t.ETAMinutes, "{n}", strconv.Itoa(m))
	}
	h, r := m/60, m%60
	switch {
	case r > 0 && h == 1:
		return strings.ReplaceAll(t.ETAHourMinutes, "{m}", strconv.Itoa(r))
	case r > 0:
		return strings.NewReplacer("{h}", strconv.Itoa(h), "{m}", strconv.Itoa(r)).Replace(t.ETAHoursMinutes)
	case h == 1:
		return t.ETAHour
	}
	return strings.ReplaceAll(t.ETAHours, "{n}", strconv.Itoa(h))
}

// durationText writes m minutes in the short form of a range's ends.
func durationText(t *texts, m int) string {
	h, r := m/60, m%60
	switch {
	case h == 0:
		return strings.ReplaceAll(t.DurMinutes, "{n}", strconv.Itoa(m))
	case r == 0:
		return strings.ReplaceAll(t.DurHours, "{n}", strconv.Itoa(h))
	}
	return strings.NewReplacer("{h}", strconv.Itoa(h), "{m}", strconv.Itoa(r)).Replace(t.DurHoursMinutes)
}

// groupDigits writes n with sep between groups of thousands: 12,345.
func groupDigits(n uint64, sep string) string {
	s := strconv.FormatUint(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteString(sep)
		}
		b.WriteRune(c)
	}
	return b.String()
}
