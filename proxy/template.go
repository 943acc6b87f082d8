package proxy

import (
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"math"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/template/parse"
	"time"
	"unicode"

	"github.com/valyala/fasthttp"

	"github.com/foyerhq/foyer/queue"
)

// PageConfig brands an event's queue page: a logo, colours and texts on the
// default page, or a template of its own. The zero value is the default
// page. docs/branding.md documents the fields and the template variables.
type PageConfig struct {
	// Template is the source of an html/template for the page, empty for
	// the default page. It is parsed together with the default page, so it
	// may either redefine some of its blocks ("style", "header", "footer")
	// and leave the rest, or be a whole page of its own that uses the
	// default's "foyer-head", "foyer-status" and "foyer-script" templates.
	// cmd/foyer reads it from the file the configuration names.
	Template string
	// TemplateFile is the name of the template's file, used in errors.
	TemplateFile string
	// LogoURL is an image shown at the top of the page: an absolute http or
	// https URL, or a data:image/… URL. The page's Content-Security-Policy
	// allows images from its origin only.
	LogoURL string
	// PrimaryColor and BackgroundColor are CSS hex colours (#rgb or
	// #rrggbb) of the accents (links, progress bar, notices) and of the
	// page's background. Empty keeps the default light and dark themes.
	PrimaryColor    string
	BackgroundColor string
	// Text overrides texts of the page per language: Text["de"]["headline"]
	// replaces the German headline. Keys are the snake_case names of the
	// texts (docs/branding.md lists them), plus "footer", empty by default.
	// An override keeps the placeholders ({n}, {t}, …) of the text it
	// replaces.
	Text map[string]map[string]string
}

// brand is the event's branding as templates see it: values checked by
// PageConfig's validation, typed so html/template inserts them as they are.
type brand struct {
	LogoURL         template.URL
	PrimaryColor    template.CSS
	BackgroundColor template.CSS
	// TextColor is black or white, whichever reads better on
	// BackgroundColor; empty without one.
	TextColor template.CSS
}

// eventPage is the queue page of one event, ready to render. It is
// immutable and safe for concurrent use.
type eventPage struct {
	tmpl  *template.Template
	texts map[string]*texts // by language, with the event's overrides
	brand brand
	csp   string
}

// basePolicy is the page's Content-Security-Policy: it loads nothing from
// elsewhere, so it renders when everything else is overloaded.
const basePolicy = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// defaultPage is the page of events that brand nothing. The template is
// parsed once; its execution is safe for concurrent use.
var defaultPage = &eventPage{
	tmpl:  template.Must(template.New("page.html").Parse(pageSource)).Lookup("page"),
	texts: languages,
	csp:   basePolicy,
}

// pageOf returns ev's page.
func (ev *event) pageOf() *eventPage {
	if ev.page == nil {
		return defaultPage
	}
	return ev.page
}

// newPage returns the page of an event configured with c, falling back to
// the default page if c is invalid: Config.Validate has rejected that.
func newPage(c Event) *eventPage {
	ep, err := c.Page.build()
	if err != nil {
		return defaultPage
	}
	return ep
}

var hexColor = regexp.MustCompile(`^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$`)

// validate checks c for the event cfg, naming the field at fault with
// prefix (e.g. "events[0].page"). A template is parsed and rendered in
// every state and language, so a mistake in it stops the start, not a
// fan's page.
func (c PageConfig) validate(prefix string, cfg Event) error {
	ep, err := c.build()
	if err != nil {
		return err.(*FieldError).under(prefix)
	}
	if c.Template == "" {
		return nil // the default page renders; its tests say so
	}
	now := time.Date(2030, 1, 2, 15, 4, 5, 0, time.UTC)
	// A known estimate takes more of a template's branches than none.
	line := queue.State{Control: queue.Control{RatePerSecond: max(cfg.RatePerSecond, 1)}}
	for _, state := range slices.Concat(previewStates, []string{"unavailable"}) {
		for _, lang := range languageTags {
			d := sampleDoc(cfg, &estimator{}, line, state, 250, "", now)
			doc, _ := json.Marshal(d)
			data := ep.data(cfg, ep.texts[lang], &d, doc, cfg.PathPrefix, now, false)
			if err := ep.tmpl.Execute(io.Discard, data); err != nil {
				return &FieldError{Field: prefix + ".template", Err: fmt.Errorf("%s: rendering state %s in %s: %v", c.templateName(), state, lang, err)}
			}
		}
	}
	return nil
}

// under prefixes the field of e.
func (e *FieldError) under(prefix string) *FieldError {
	return &FieldError{Field: prefix + "." + e.Field, Err: e.Err}
}

func (c PageConfig) templateName() string {
	if c.TemplateFile != "" {
		return c.TemplateFile
	}
	return "page template"
}

// build makes the page of c. Its errors are *FieldErrors naming the field
// under "page".
func (c PageConfig) build() (*eventPage, error) {
	fe := func(field, format string, args ...any) error {
		return &FieldError{Field: field, Err: fmt.Errorf(format, args...)}
	}
	ep := &eventPage{tmpl: defaultPage.tmpl, texts: languages, csp: basePolicy}
	if c.Template != "" {
		tmpl, err := parsePage(c.templateName(), c.Template)
		if err != nil {
			return nil, fe("template", "%v", err)
		}
		ep.tmpl = tmpl
	}
	for field, color := range map[string]string{"primary_color": c.PrimaryColor, "background_color": c.BackgroundColor} {
		if color != "" && !hexColor.MatchString(color) {
			return nil, fe(field, "%q must be a CSS hex colour like #1a2b3c or #abc", color)
		}
	}
	ep.brand.PrimaryColor = template.CSS(c.PrimaryColor)
	if c.BackgroundColor != "" {
		ep.brand.BackgroundColor = template.CSS(c.BackgroundColor)
		ep.brand.TextColor = readableOn(c.BackgroundColor)
	}
	if c.LogoURL != "" {
		src, err := logoSource(c.LogoURL)
		if err != nil {
			return nil, fe("logo_url", "%v", err)
		}
		ep.brand.LogoURL = template.URL(c.LogoURL)
		ep.csp = basePolicy + "; img-src " + src
	}
	if len(c.Text) > 0 {
		ep.texts = map[string]*texts{}
		for tag, base := range languages {
			t := *base
			ep.texts[tag] = &t
		}
		tags := make([]string, 0, len(c.Text))
		for tag := range c.Text {
			tags = append(tags, tag)
		}
		sort.Strings(tags) // the first error is the same at every start
		for _, tag := range tags {
			t := ep.texts[tag]
			if t == nil {
				return nil, fe("text."+tag, "%q is not a language of the page; use one of %s", tag, strings.Join(languageTags, ", "))
			}
			if err := t.override(c.Text[tag]); err != nil {
				return nil, err.(*FieldError).under("text." + tag)
			}
		}
	}
	return ep, nil
}

// parsePage parses a custom page template together with the default page.
// A file with only {{define}}s extends the default page; one with content
// of its own replaces it.
func parsePage(name, src string) (*template.Template, error) {
	set, err := template.New("page.html").Parse(pageSource)
	if err != nil {
		return nil, err
	}
	custom, err := set.New(name).Parse(src)
	if err != nil {
		return nil, err
	}
	if custom.Tree == nil || parse.IsEmptyTree(custom.Tree.Root) {
		return set.Lookup("page"), nil
	}
	return custom, nil
}

// logoSource checks a logo URL and returns the source the page's
// Content-Security-Policy must allow for it.
func logoSource(s string) (string, error) {
	const maxLogo = 64 << 10
	if len(s) > maxLogo {
		return "", fmt.Errorf("is %d bytes long, more than %d", len(s), maxLogo)
	}
	if strings.HasPrefix(s, "data:") {
		mime, _, ok := strings.Cut(strings.TrimPrefix(s, "data:"), ",")
		mime, _, _ = strings.Cut(mime, ";")
		if !ok || !slices.Contains([]string{"image/png", "image/jpeg", "image/gif", "image/webp", "image/svg+xml"}, mime) {
			return "", errors.New("a data: URL must hold an image/png, image/jpeg, image/gif, image/webp or image/svg+xml")
		}
		return "data:", nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return "", fmt.Errorf("%q must be an absolute http or https URL (or a data:image/… URL)", s)
	}
	// Under an event's prefix a waiting fan would get the queue page
	// instead of the image; that is the operator's to know, not to check.
	return u.Scheme + "://" + u.Host, nil
}

// readableOn returns black or white, whichever contrasts more with the hex
// colour c (WCAG relative luminance).
func readableOn(c string) template.CSS {
	c = strings.TrimPrefix(c, "#")
	if len(c) == 3 {
		c = string([]byte{c[0], c[0], c[1], c[1], c[2], c[2]})
	}
	var lum float64
	for i, w := range []float64{0.2126, 0.7152, 0.0722} {
		v, _ := strconv.ParseUint(c[2*i:2*i+2], 16, 8)
		s := float64(v) / 255
		if s <= 0.04045 {
			s /= 12.92
		} else {
			s = math.Pow((s+0.055)/1.055, 2.4)
		}
		lum += w * s
	}
	// Contrast with black is (L+0.05)/0.05, with white 1.05/(L+0.05).
	if (lum+0.05)*(lum+0.05) > 0.05*1.05 {
		return "#000"
	}
	return "#fff"
}

// textKeys maps the snake_case name of each overridable text to its field.
var textKeys = func() map[string]int {
	m := map[string]int{}
	tt := reflect.TypeOf(texts{})
	for i := range tt.NumField() {
		if n := tt.Field(i).Name; n != "Lang" && n != "Sep" {
			m[snakeCase(n)] = i
		}
	}
	return m
}()

// snakeCase turns a Go field name into its configuration name:
// ETAHoursMinutes is eta_hours_minutes.
func snakeCase(s string) string {
	r := []rune(s)
	var b strings.Builder
	for i, c := range r {
		if i > 0 && unicode.IsUpper(c) && (unicode.IsLower(r[i-1]) || i+1 < len(r) && unicode.IsLower(r[i+1])) {
			b.WriteByte('_')
		}
		b.WriteRune(unicode.ToLower(c))
	}
	return b.String()
}

var placeholder = regexp.MustCompile(`\{[a-z]+\}`)

// override sets texts of t from an event's configuration, keeping each
// text's placeholders.
func (t *texts) override(m map[string]string) error {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	v := reflect.ValueOf(t).Elem()
	for _, k := range keys {
		i, ok := textKeys[k]
		if !ok {
			return &FieldError{Field: k, Err: errors.New("is not a text of the page; docs/branding.md lists them")}
		}
		s := m[k]
		if len(s) > 2000 {
			return &FieldError{Field: k, Err: fmt.Errorf("is %d bytes long, more than 2000", len(s))}
		}
		want, got := placeholder.FindAllString(v.Field(i).String(), -1), placeholder.FindAllString(s, -1)
		sort.Strings(want)
		sort.Strings(got)
		if !slices.Equal(slices.Compact(want), slices.Compact(got)) {
			return &FieldError{Field: k, Err: fmt.Errorf("%q must have the placeholders %v of the text it replaces, got %v", s, want, got)}
		}
		v.Field(i).SetString(s)
	}
	return nil
}

// languageTags are the page's languages in a fixed order.
var languageTags = []string{"en", "zh", "es", "fr", "de"}

// previewStates are the states a preview may show. "ended" is a preview
// name for closed with no opening time: the sale is over.
var previewStates = []string{"waiting", "prequeue", "paused", "sold_out", "closed", "ended", "admitted"}

// servePreview answers GET /_foyer/v1/events/{event}/preview: ev's page in
// a chosen state with sample data, for organisers checking their branding.
// It joins nothing, sets no cookie and calls no store.
func (p *Proxy) servePreview(ctx *fasthttp.RequestCtx, ev *event, now time.Time) {
	if !ctx.IsGet() && !ctx.IsHead() {
		methodNotAllowed(ctx, "GET, HEAD")
		return
	}
	args := ctx.QueryArgs()
	state := "waiting"
	if s := args.Peek("state"); len(s) > 0 {
		state = string(s)
		if !slices.Contains(previewStates, state) {
			writeError(ctx, fasthttp.StatusBadRequest, "invalid_query", "state must be one of "+strings.Join(previewStates, ", "))
			return
		}
	}
	position := uint64(250)
	if s := args.Peek("position"); len(s) > 0 {
		n, err := strconv.ParseUint(string(s), 10, 64)
		if err != nil || n < 1 || n > 100_000_000 {
			writeError(ctx, fasthttp.StatusBadRequest, "invalid_query", "position must be a whole number from 1 to 100000000")
			return
		}
		position = n
	}
	t := pickLanguage(ctx.Request.Header.Peek(fasthttp.HeaderAcceptLanguage))
	if s := args.Peek("lang"); len(s) > 0 {
		if t = languages[string(s)]; t == nil {
			writeError(ctx, fasthttp.StatusBadRequest, "invalid_query", "lang must be one of "+strings.Join(languageTags, ", "))
			return
		}
	}
	notice := string(args.Peek("notice"))
	if notice != "" && notice != noticePaused && notice != noticeRateLowered && notice != "turn_expired" {
		writeError(ctx, fasthttp.StatusBadRequest, "invalid_query", "notice must be paused, rate_lowered or turn_expired")
		return
	}
	d := sampleDoc(ev.cfg, &ev.est, ev.line(), state, position, notice, now)
	doc, _ := json.Marshal(d)
	p.renderPage(ctx, ev, t, doc, ev.cfg.PathPrefix, now, true, fasthttp.StatusOK)
	ctx.Response.Header.Set("X-Robots-Tag", "noindex")
}

// sampleDoc is the status document of a visitor at position in the given
// preview state of cfg's line s, with the estimate a real visitor would get
// from est.
func sampleDoc(cfg Event, est *estimator, s queue.State, state string, position uint64, notice string, now time.Time) pageDoc {
	d := pageDoc{Event: cfg.Name, State: state, Notice: notice, RefreshAfterMS: 5000}
	switch state {
	case "waiting", "paused":
		s.Control.Paused, s.Control.SoldOut, s.Prequeue = state == "paused", false, false
		w := est.estimate(s, position)
		d.Position, d.Ahead = position, position-1
		d.ETAKnown = w.Known
		d.ETASeconds = int64((w.Wait + time.Second - 1) / time.Second)
		d.ETALowSeconds = int64(w.Low / time.Second)
		d.ETAHighSeconds = int64((w.High + time.Second - 1) / time.Second)
		if state == "paused" {
			d.Notice = noticePaused
		}
	case "prequeue":
		d.SaleStartsAt = now.Add(5 * time.Minute).UTC().Format(time.RFC3339)
		d.Member = "m-preview-3f9a2c"
	case "closed":
		d.OpensAt = now.Add(time.Hour).UTC().Truncate(time.Minute).Format(time.RFC3339)
	case "ended":
		d.State = "closed"
	case "sold_out":
		d.RefreshAfterMS = 30000
	case "admitted":
		d.Redirect = cfg.PathPrefix
		d.Notice = ""
	}
	return d
}
