package proxy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/foyerhq/foyer/internal/testclock"
	"github.com/foyerhq/foyer/queue"
)

// TestPreviewStates renders every state of the preview route in English
// and another language and checks each shows its key texts, with nothing
// joined and no cookie set.
func TestPreviewStates(t *testing.T) {
	h := newHarness(t, func(c *Config, _ *Deps) { c.Events[0].RatePerSecond = 2 })
	cases := []struct {
		state   string
		inLine  bool
		want    func(t *texts) []string
		without func(t *texts) []string
	}{
		{"waiting", true, func(t *texts) []string {
			return []string{t.Headline, t.Position, "1" + t.Sep + "234", t.Wait}
		}, func(t *texts) []string { return []string{t.SoldOutHeadline, t.PrequeueHeadline} }},
		{"paused", true, func(t *texts) []string { return []string{t.Headline, t.Paused, t.ETAPaused} }, nil},
		{"prequeue", false, func(t *texts) []string {
			return []string{t.PrequeueHeadline, strings.ReplaceAll(t.PrequeueStartsIn, "{t}", "05:00"), t.Member, "m-preview-3f9a2c", t.PrequeueNote}
		}, nil},
		{"closed", false, func(t *texts) []string {
			return []string{t.ClosedHeadline, strings.Split(t.ClosedOpens, "{at}")[0], strings.Split(t.ClosedOpens, "{t}")[1]}
		}, nil},
		{"ended", false, func(t *texts) []string { return []string{t.EndedHeadline, t.EndedMessage, `id="keep-open" hidden`} }, nil},
		{"sold_out", false, func(t *texts) []string { return []string{t.SoldOutHeadline, t.SoldOut, `id="keep-open" hidden`} }, nil},
		{"admitted", false, func(t *texts) []string { return []string{t.Turn, t.Continue, t.Taking} }, nil},
	}
	for _, c := range cases {
		for _, lang := range []string{"en", "de", "zh"} {
			t.Run(c.state+"/"+lang, func(t *testing.T) {
				r := h.do("GET", "/_foyer/v1/events/show/preview?state="+c.state+"&position=1234&lang="+lang)
				if r.status != 200 {
					t.Fatalf("got status %d, want 200: %s", r.status, r.body)
				}
				for name, want := range map[string]string{"Cache-Control": "no-store", "X-Robots-Tag": "noindex", "Content-Type": "text/html; charset=utf-8"} {
					if got := r.header(name); got != want {
						t.Errorf("%s: got %q, want %q", name, got, want)
					}
				}
				if sc := r.headers["set-cookie"]; len(sc) > 0 {
					t.Errorf("a preview set cookies: %v", sc)
				}
				body := string(r.body)
				tx := languages[lang]
				if !strings.Contains(body, `<html lang="`+lang+`">`) {
					t.Errorf("page lacks lang=%q", lang)
				}
				for _, w := range c.want(tx) {
					if !strings.Contains(body, w) {
						t.Errorf("page lacks %q", w)
					}
				}
				if c.without != nil {
					for _, w := range c.without(tx) {
						if strings.Contains(visible(body), w) {
							t.Errorf("page shows %q", w)
						}
					}
				}
				if hidden := strings.Contains(body, `id="figures" hidden`); hidden == c.inLine {
					t.Errorf("figures hidden: got %v, want %v", hidden, !c.inLine)
				}
				if !regexp.MustCompile(`var preview = +true +;`).MatchString(body) {
					t.Error("the preview's script would poll")
				}
			})
		}
	}
	if _, st, _ := h.p.Event("show"); st.Tail != 0 {
		t.Errorf("previews took places in line: tail %d, want 0", st.Tail)
	}
}

// visible is the markup of a page before its scripts, which carry every
// text of the language.
func visible(page string) string {
	before, _, _ := strings.Cut(page, "<script")
	return before
}

func TestPreviewBadInput(t *testing.T) {
	h := newHarness(t)
	cases := []struct {
		method, query string
		status        int
		code          string
	}{
		{"GET", "state=open", 400, "invalid_query"},
		{"GET", "state=", 200, ""}, // empty means the default
		{"GET", "position=0", 400, "invalid_query"},
		{"GET", "position=-3", 400, "invalid_query"},
		{"GET", "position=12x", 400, "invalid_query"},
		{"GET", "position=100000001", 400, "invalid_query"},
		{"GET", "lang=ja", 400, "invalid_query"},
		{"GET", "lang=EN", 400, "invalid_query"},
		{"GET", "notice=hello", 400, "invalid_query"},
		{"GET", "notice=turn_expired", 200, ""},
		{"HEAD", "state=paused", 200, ""},
		{"POST", "", 405, "method_not_allowed"},
	}
	for _, c := range cases {
		t.Run(c.method+" "+c.query, func(t *testing.T) {
			r := h.do(c.method, "/_foyer/v1/events/show/preview?"+c.query)
			if r.status != c.status {
				t.Fatalf("got status %d, want %d: %s", r.status, c.status, r.body)
			}
			if c.code == "" {
				return
			}
			e, _ := r.json(t)["error"].(map[string]any)
			if e["code"] != c.code || e["message"] == "" {
				t.Errorf("got error %v, want code %s and a message", e, c.code)
			}
		})
	}
	if r := h.do("GET", "/_foyer/v1/events/nope/preview"); r.status != 404 {
		t.Errorf("unknown event: got status %d, want 404", r.status)
	}
	r := h.do("GET", "/_foyer/v1/events/show/preview?notice=turn_expired")
	if !strings.Contains(string(r.body), languages["en"].TurnExpired) {
		t.Error("the turn_expired notice is not shown")
	}
}

// TestPageLiveStates serves the page of real lines in the states without
// a position: the page reads them from the status document.
func TestPageLiveStates(t *testing.T) {
	// A fixed clock: the countdowns are exact however slow the machine.
	now := time.Now().Truncate(time.Second)
	cases := []struct {
		name  string
		event func(*Event)
		ready func(*harness)
		want  []string
	}{
		{"not open yet", func(e *Event) { e.PrequeueOpensAt = now.Add(2 * time.Hour); e.SaleStartsAt = now.Add(3 * time.Hour) }, nil,
			[]string{"Not open yet", "The line opens at ", ", in 02:00:00.", `"opens_at":"`}},
		{"pre-queue", func(e *Event) { e.SaleStartsAt = now.Add(10 * time.Minute) }, nil,
			[]string{"You are in the pre-queue", "The sale starts in 10:00.", "Your draw id", `"member":"`, `"sale_starts_at":"`}},
		{"sold out", nil, func(h *harness) {
			_, st, _ := h.p.Event("show")
			if _, err := h.store.SetControl(context.Background(), "show", queue.Control{RatePerSecond: 1000, SoldOut: true, Paused: true}, queue.Seed{Last: st, Control: st.Control}); err != nil {
				t.Fatal(err)
			}
			h.line("show")
		}, []string{"Sold out", "All tickets have been sold.", `"state":"sold_out"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, withClock(testclock.New(now)), func(cfg *Config, _ *Deps) {
				if c.event != nil {
					c.event(&cfg.Events[0])
				}
			})
			if c.ready != nil {
				c.ready(h)
			}
			r := h.do("GET", "/shows/1", "Accept", "text/html")
			body := string(r.body)
			for _, w := range c.want {
				if !strings.Contains(body, w) {
					t.Errorf("page lacks %q", w)
				}
			}
			if !strings.Contains(body, `id="figures" hidden`) {
				t.Error("the page shows a position")
			}
		})
	}
}

// TestPageTemplate checks the two ways of a custom template: extending the
// default page by its blocks, and replacing it.
func TestPageTemplate(t *testing.T) {
	cases := []struct {
		name    string
		page    PageConfig
		lang    string
		want    []string
		without []string
	}{
		{"extends", PageConfig{
			TemplateFile: "acme.html",
			Template:     `{{define "header"}}<div class="acme">ACME presents {{.Title}}</div>{{end}}{{define "style"}}<style>.acme { font-weight: 700; }</style>{{end}}`,
			Text:         map[string]map[string]string{"en": {"footer": "Questions? help@acme.example"}, "de": {"headline": "Sie stehen in der ACME-Schlange"}},
		}, "de", []string{`<div class="acme">ACME presents Show</div>`, ".acme { font-weight: 700; }", "Sie stehen in der ACME-Schlange", `id="position"`, "Ihr Platz in der Warteschlange"},
			[]string{"Questions?", "Sie sind in der Warteschlange</h1>"}},
		{"extends, English footer", PageConfig{
			Template: `{{define "header"}}<div class="acme">ACME</div>{{end}}`,
			Text:     map[string]map[string]string{"en": {"footer": "Questions? help@acme.example"}},
		}, "en", []string{`<p class="footer">Questions? help@acme.example</p>`, "You are in line"}, nil},
		{"replaces", PageConfig{
			TemplateFile: "whole.html",
			Template: `<!doctype html>
<html lang="{{.Lang}}"><head>{{template "foyer-head" .}}</head>
<body><div class="poster">{{.Title}} · {{.State}}</div>{{template "foyer-status" .}}
<p>Position {{.Position}} of {{.Event}}</p>{{template "foyer-script" .}}</body></html>`,
		}, "en", []string{`<div class="poster">Show · waiting</div>`, "Position 1,234 of show", `id="foyer-status"`, `id="eta"`}, []string{`class="card"`}},
		{"brand variables", PageConfig{LogoURL: "https://cdn.example.com/acme/logo.png", PrimaryColor: "#ff6600", BackgroundColor: "#102030"},
			"en", []string{`<img class="logo" src="https://cdn.example.com/acme/logo.png"`, "--accent: #ff6600;", "--bg: #102030;"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, func(cfg *Config, _ *Deps) {
				cfg.Events[0].Title = "Show"
				cfg.Events[0].Page = c.page
			})
			r := h.do("GET", "/_foyer/v1/events/show/preview?position=1234&lang="+c.lang)
			if r.status != 200 {
				t.Fatalf("got status %d, want 200: %s", r.status, r.body)
			}
			body := string(r.body)
			for _, w := range c.want {
				if !strings.Contains(body, w) {
					t.Errorf("page lacks %q", w)
				}
			}
			for _, w := range c.without {
				if strings.Contains(visible(body), w) {
					t.Errorf("page has %q", w)
				}
			}
			// The real page of a fan uses the same template.
			if r := h.do("GET", "/x", "Accept", "text/html", "Accept-Language", c.lang); !strings.Contains(string(r.body), c.want[0]) {
				t.Errorf("the fan's page lacks %q", c.want[0])
			}
		})
	}
}

func TestPageBrandCSP(t *testing.T) {
	cases := []struct {
		logo, want string
	}{
		{"", basePolicy},
		{"https://cdn.example.com:8443/l.svg", basePolicy + "; img-src https://cdn.example.com:8443"},
		{"data:image/svg+xml;base64,PHN2Zy8+", basePolicy + "; img-src data:"},
	}
	for _, c := range cases {
		h := newHarness(t, func(cfg *Config, _ *Deps) { cfg.Events[0].Page.LogoURL = c.logo })
		if got := h.do("GET", "/", "Accept", "text/html").header("Content-Security-Policy"); got != c.want {
			t.Errorf("logo %q: got CSP %q, want %q", c.logo, got, c.want)
		}
	}
}

// TestPageConfigErrors checks that a bad page configuration stops New with
// an error naming the field and, for templates, the file and line.
func TestPageConfigErrors(t *testing.T) {
	cases := []struct {
		name  string
		page  PageConfig
		field string
		msg   []string
	}{
		{"template syntax", PageConfig{TemplateFile: "brand/page.html", Template: "<p>\n{{if .Title}}open\n"},
			"events[0].page.template", []string{"brand/page.html:", "unexpected EOF"}},
		{"template field", PageConfig{TemplateFile: "brand/page.html", Template: "<p>one</p>\n<p>{{.Titel}}</p>"},
			"events[0].page.template", []string{"brand/page.html:2", "Titel"}},
		{"template field in a block", PageConfig{TemplateFile: "brand/page.html", Template: "{{define \"footer\"}}\n\n{{.Brand.Logo}}{{end}}"},
			"events[0].page.template", []string{"brand/page.html:3", "Logo"}},
		{"unknown template", PageConfig{TemplateFile: "b.html", Template: `{{template "foyer-nope" .}}`},
			"events[0].page.template", []string{"b.html:1", "foyer-nope"}},
		{"colour", PageConfig{PrimaryColor: "red"}, "events[0].page.primary_color", []string{`"red"`}},
		{"colour injection", PageConfig{BackgroundColor: "#fff; background: url(x)"}, "events[0].page.background_color", nil},
		{"logo scheme", PageConfig{LogoURL: "javascript:alert(1)"}, "events[0].page.logo_url", nil},
		{"logo relative", PageConfig{LogoURL: "/logo.png"}, "events[0].page.logo_url", nil},
		{"logo data", PageConfig{LogoURL: "data:text/html,<script>"}, "events[0].page.logo_url", nil},
		{"text language", PageConfig{Text: map[string]map[string]string{"ja": {"headline": "x"}}}, "events[0].page.text.ja", []string{"en, zh, es, fr, de"}},
		{"text key", PageConfig{Text: map[string]map[string]string{"en": {"headlines": "x"}}}, "events[0].page.text.en.headlines", nil},
		{"text placeholder lost", PageConfig{Text: map[string]map[string]string{"fr": {"eta_minutes": "Quelques minutes"}}}, "events[0].page.text.fr.eta_minutes", []string{"{n}"}},
		{"text placeholder added", PageConfig{Text: map[string]map[string]string{"en": {"headline": "In line for {t}"}}}, "events[0].page.text.en.headline", nil},
		{"text not a text", PageConfig{Text: map[string]map[string]string{"en": {"lang": "fr"}}}, "events[0].page.text.en.lang", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := Config{Events: []Event{{Name: "show", Origin: "http://127.0.0.1:1", RatePerSecond: 1, Page: c.page}}}.Defaults()
			err := cfg.Validate()
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("got %v, want a *FieldError", err)
			}
			if fe.Field != c.field {
				t.Errorf("field: got %q, want %q (%v)", fe.Field, c.field, err)
			}
			for _, m := range c.msg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q lacks %q", err, m)
				}
			}
		})
	}
	ok := PageConfig{
		Template:        `{{define "footer"}}<p>{{.T.Footer}}</p>{{end}}`,
		LogoURL:         "https://cdn.example.com/logo.png",
		PrimaryColor:    "#AbC",
		BackgroundColor: "#0a0b0c",
		Text:            map[string]map[string]string{"es": {"eta_minutes": "Unos {n} min", "keep_open": "No cierres esta página."}},
	}
	cfg := Config{Events: []Event{{Name: "show", Origin: "http://127.0.0.1:1", Page: ok}}}.Defaults()
	if err := cfg.Validate(); err != nil {
		t.Errorf("a valid page configuration: got %v", err)
	}
}

var typeOfTexts = reflect.TypeOf(texts{})

func TestTextKeys(t *testing.T) {
	for key, want := range map[string]string{
		"headline": "Headline", "keep_open": "KeepOpen", "eta_hours_minutes": "ETAHoursMinutes",
		"eta_between_minutes": "ETABetweenMinutes", "sold_out_headline": "SoldOutHeadline", "footer": "Footer",
	} {
		i, ok := textKeys[key]
		if !ok {
			t.Errorf("%s: not a text key", key)
			continue
		}
		if got := typeOfTexts.Field(i).Name; got != want {
			t.Errorf("%s: got field %s, want %s", key, got, want)
		}
	}
	for _, key := range []string{"lang", "sep"} {
		if _, ok := textKeys[key]; ok {
			t.Errorf("%s: may be overridden", key)
		}
	}
}

func TestReadableOn(t *testing.T) {
	cases := map[string]string{"#fff": "#000", "#ffffff": "#000", "#000": "#fff", "#102030": "#fff", "#ffcc00": "#000", "#2d5bd7": "#fff"}
	for bg, want := range cases {
		if got := string(readableOn(bg)); got != want {
			t.Errorf("readableOn(%s): got %s, want %s", bg, got, want)
		}
	}
}

// TestStatusCarriesETARange checks the estimate fields of the status
// document: a range around the estimate while the line runs, nothing while
// it is paused.
func TestStatusCarriesETARange(t *testing.T) {
	h := newHarness(t, func(c *Config, _ *Deps) { c.Events[0].RatePerSecond = 0.01 })
	ticket := h.joinN("show", 3)
	doc := h.do("GET", "/_foyer/v1/events/show/status", "Foyer-Ticket", ticket).json(t)
	lo, _ := doc["eta_low_seconds"].(float64)
	eta, _ := doc["eta_seconds"].(float64)
	hi, _ := doc["eta_high_seconds"].(float64)
	if doc["eta_known"] != true || !(0 < lo && lo <= eta && eta <= hi) {
		t.Fatalf("got %v, want 0 < eta_low_seconds ≤ eta_seconds ≤ eta_high_seconds", doc)
	}
	// No data yet: the rate in force, with the fallback's wide range.
	if eta < 290 || eta > 310 || hi < 1.9*eta {
		t.Errorf("got eta %v in [%v, %v], want about 300 s (3 at 0.01/s) with a wide range", eta, lo, hi)
	}
	h.setRate("show", 0)
	h.waitRefresh("show")
	h.waitRefresh("show")
	doc = h.do("GET", "/_foyer/v1/events/show/status", "Foyer-Ticket", ticket).json(t)
	for _, f := range []string{"eta_seconds", "eta_low_seconds", "eta_high_seconds"} {
		if _, ok := doc[f]; ok || doc["eta_known"] != false {
			t.Errorf("at rate 0: got %v, want eta_known false and no %s", doc, f)
		}
	}
}

// TestBrandingDoc checks that docs/branding.md documents every text key and
// every template variable, and that its example templates are valid.
func TestBrandingDoc(t *testing.T) {
	b, err := os.ReadFile("../docs/branding.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for key := range textKeys {
		if !strings.Contains(doc, "| `"+key+"` |") {
			t.Errorf("docs/branding.md does not document the text key %s", key)
		}
	}
	var vars []string
	for _, v := range []struct {
		prefix string
		typ    reflect.Type
	}{{".", reflect.TypeOf(pageData{})}, {".Brand.", reflect.TypeOf(brand{})}, {".Doc.", reflect.TypeOf(pageDoc{})}} {
		for i := range v.typ.NumField() {
			if f := v.typ.Field(i); f.Type.Kind() != reflect.Struct { // .Brand and .Doc: by their fields
				vars = append(vars, v.prefix+f.Name)
			}
		}
	}
	for _, v := range vars {
		if !strings.Contains(doc, "`"+v+"`") {
			t.Errorf("docs/branding.md does not document the template variable %s", v)
		}
	}
	examples := regexp.MustCompile("(?s)```html\n(.*?)```").FindAllStringSubmatch(doc, -1)
	if len(examples) < 2 {
		t.Fatalf("docs/branding.md has %d html examples, want 2", len(examples))
	}
	for i, m := range examples {
		page := PageConfig{TemplateFile: fmt.Sprintf("example %d", i+1), Template: m[1], LogoURL: "https://cdn.example.com/l.svg"}
		if err := page.validate("page", Event{Name: "finals", Title: "Cup Final", RatePerSecond: 10, PathPrefix: "/"}); err != nil {
			t.Errorf("example %d: %v", i+1, err)
		}
	}
}
