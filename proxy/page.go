package proxy

import (
	_ "embed"
	"fmt"
	"html/template"
	"math/rand/v2"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

//go:embed page.html
var pageSource string

// pageTemplate is the queue page. It is self-contained (no external assets)
// so it loads when everything else is overloaded.
var pageTemplate = template.Must(template.New("page").Parse(pageSource))

// pageData are the variables of the queue page.
type pageData struct {
	T               *texts // the page's language; its script receives it as JSON
	Title           string
	Headline        string
	Notice          string
	Admitted        bool
	Redirect        string
	Position        string
	Ahead           string
	ETA             string
	UpdatedISO      string
	UpdatedText     string
	NoScriptRefresh int
	NoScriptText    string
	StatusURL       string
	StreamURL       string
	DocJSON         template.JS // the status document; appendJSONString escapes <, > and &
}

// servePage answers a browser that is not admitted with the queue page,
// joining the line when it has no ticket.
func (p *Proxy) servePage(ctx *fasthttp.RequestCtx, ev *event, now time.Time) {
	v, _ := p.place(ctx, ev, now, true, true)
	redirect := string(ctx.RequestURI())
	t := pickLanguage(ctx.Request.Header.Peek(fasthttp.HeaderAcceptLanguage))
	d := pageData{
		T:               t,
		Title:           ev.cfg.Title,
		Headline:        t.Headline,
		UpdatedISO:      now.UTC().Format(time.RFC3339),
		UpdatedText:     now.UTC().Format("15:04:05 UTC"),
		NoScriptRefresh: 20 + rand.IntN(20),
		Redirect:        redirect,
		StatusURL:       "/_foyer/v1/events/" + ev.cfg.Name + "/status?return_to=" + url.QueryEscape(redirect),
		StreamURL:       "/_foyer/v1/events/" + ev.cfg.Name + "/stream?return_to=" + url.QueryEscape(redirect),
	}
	status := fasthttp.StatusOK
	switch {
	case v.joinError != nil:
		status = fasthttp.StatusServiceUnavailable
		ctx.Response.Header.Set(fasthttp.HeaderRetryAfter, "3")
		d.Headline = t.Joining
		d.Notice = t.Unavailable
		d.Position, d.Ahead, d.ETA = "—", "—", "—"
		d.NoScriptRefresh = 5
		d.DocJSON = template.JS(fmt.Sprintf(`{"event":%q,"state":"unavailable","refresh_after_ms":%d}`, ev.cfg.Name, 2000+rand.IntN(2000)))
	default:
		doc := p.appendStatus(nil, ev, &v, []byte(redirect))
		d.DocJSON = template.JS(doc)
		if v.token != "" {
			d.Admitted = true
			d.Headline = t.Turn
			d.Notice = t.Taking
			break
		}
		eta, known := policyOf(v.line).Wait(v.position)
		d.Position = groupDigits(v.position, t.Sep)
		d.Ahead = groupDigits(v.position-1, t.Sep)
		d.ETA = etaText(t, eta, known, v.line.Control.Paused)
		// A lowered rate is shown by the script only when the estimate it
		// shows grows; a pause is news at any time.
		if v.line.Control.Paused {
			d.Notice = t.Paused
		}
	}
	d.NoScriptText = strings.ReplaceAll(t.NoScript, "{n}", strconv.Itoa(d.NoScriptRefresh))
	ctx.SetStatusCode(status)
	ctx.Response.Header.SetContentType("text/html; charset=utf-8")
	ctx.Response.Header.Set(fasthttp.HeaderCacheControl, "no-store")
	ctx.Response.Header.Set(fasthttp.HeaderVary, "Accept-Language")
	ctx.Response.Header.Set("X-Content-Type-Options", "nosniff")
	ctx.Response.Header.Set("Referrer-Policy", "no-referrer")
	ctx.Response.Header.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	if err := pageTemplate.Execute(ctx, d); err != nil {
		p.log.Error("rendering queue page", "event", ev.cfg.Name, "err", err)
	}
}

// etaText is the estimated wait as the page first shows it; the page's
// script keeps it current with the same wording and rounding.
func etaText(t *texts, eta time.Duration, known, paused bool) string {
	switch {
	case !known && paused:
		return t.ETAPaused
	case !known:
		return t.ETAUnknown
	case eta < time.Minute:
		return t.ETALess
	}
	m := int((eta + 30*time.Second) / time.Minute)
	switch {
	case m == 1:
		return t.ETAMinute
	case m < 60:
		return strings.ReplaceAll(t.ETAMinutes, "{n}", strconv.Itoa(m))
	}
	h, r := m/60, m%60
	switch {
	case r > 0:
		return strings.NewReplacer("{h}", strconv.Itoa(h), "{m}", strconv.Itoa(r)).Replace(t.ETAHoursMinutes)
	case h == 1:
		return t.ETAHour
	}
	return strings.ReplaceAll(t.ETAHours, "{n}", strconv.Itoa(h))
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
