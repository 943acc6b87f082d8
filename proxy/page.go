package proxy

import (
	_ "embed"
	"fmt"
	"html/template"
	"math/rand/v2"
	"net/url"
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
	StatusURL       string
	DocJSON         template.JS // the status document; appendJSONString escapes <, > and &
}

// servePage answers a browser that is not admitted with the queue page,
// joining the line when it has no ticket.
func (p *Proxy) servePage(ctx *fasthttp.RequestCtx, ev *event, now time.Time) {
	v, _ := p.place(ctx, ev, now, true, true)
	redirect := string(ctx.RequestURI())
	d := pageData{
		Title:           ev.cfg.Title,
		Headline:        "You are in line",
		UpdatedISO:      now.UTC().Format(time.RFC3339),
		UpdatedText:     now.UTC().Format("15:04:05 UTC"),
		NoScriptRefresh: 20 + rand.IntN(20),
		Redirect:        redirect,
		StatusURL:       "/_foyer/v1/events/" + ev.cfg.Name + "/status?return_to=" + url.QueryEscape(redirect),
	}
	status := fasthttp.StatusOK
	switch {
	case v.joinError != nil:
		status = fasthttp.StatusServiceUnavailable
		ctx.Response.Header.Set(fasthttp.HeaderRetryAfter, "3")
		d.Headline = "Joining the line…"
		d.Notice = "We could not give you a place just yet. This page tries again by itself in a few seconds."
		d.Position, d.Ahead, d.ETA = "—", "—", "—"
		d.NoScriptRefresh = 5
		d.DocJSON = template.JS(fmt.Sprintf(`{"event":%q,"state":"unavailable","refresh_after_ms":%d}`, ev.cfg.Name, 2000+rand.IntN(2000)))
	default:
		doc := p.appendStatus(nil, ev, &v, []byte(redirect))
		d.DocJSON = template.JS(doc)
		if v.token != "" {
			d.Admitted = true
			d.Headline = "It's your turn"
			d.Notice = "Taking you to the site now…"
			break
		}
		eta, known := policyOf(v.line).Wait(v.position)
		d.Position = groupDigits(v.position)
		d.Ahead = groupDigits(v.position - 1)
		d.ETA = etaText(eta, known, v.line.Control.Paused)
		if v.line.Control.Paused {
			d.Notice = "The line is paused for a moment. You keep your place."
		}
	}
	ctx.SetStatusCode(status)
	ctx.Response.Header.SetContentType("text/html; charset=utf-8")
	ctx.Response.Header.Set(fasthttp.HeaderCacheControl, "no-store")
	ctx.Response.Header.Set("X-Content-Type-Options", "nosniff")
	ctx.Response.Header.Set("Referrer-Policy", "no-referrer")
	ctx.Response.Header.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	if err := pageTemplate.Execute(ctx, d); err != nil {
		p.log.Error("rendering queue page", "event", ev.cfg.Name, "err", err)
	}
}

// etaText is the estimated wait as the page first shows it; the page's
// script keeps it current with the same wording.
func etaText(eta time.Duration, known, paused bool) string {
	switch {
	case !known && paused:
		return "Paused"
	case !known:
		return "Unknown"
	case eta < time.Minute:
		return "Less than a minute"
	}
	m := int((eta + 30*time.Second) / time.Minute)
	if m < 60 {
		if m == 1 {
			return "About 1 minute"
		}
		return fmt.Sprintf("About %d minutes", m)
	}
	h, r := m/60, m%60
	s := fmt.Sprintf("About %d hour", h)
	if h > 1 {
		s += "s"
	}
	if r > 0 {
		s += fmt.Sprintf(" %d min", r)
	}
	return s
}

// groupDigits writes n with thousands separators: 12,345.
func groupDigits(n uint64) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
