package proxy

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestPickLanguage(t *testing.T) {
	cases := []struct {
		header, want string
	}{
		{"", "en"},
		{"de", "de"},
		{"de-DE,de;q=0.9,en;q=0.8", "de"},
		{"zh-CN,zh;q=0.9", "zh"},
		{"zh-TW", "zh"},
		{"zh-Hant-HK", "zh"},
		{"fr-CA, fr;q=0.9, en;q=0.8", "fr"},
		{"es-419,es;q=0.9", "es"},
		{"ES", "es"},
		{"en;q=0.5, fr;q=0.9", "fr"},             // q-values, not order, decide
		{"ja, ko;q=0.9, es;q=0.8", "es"},         // the first supported one
		{"ja, ko;q=0.9", "en"},                   // none supported
		{"de;q=0, fr;q=0.1", "fr"},               // q=0 means not acceptable
		{"de;q=0", "en"},                         //
		{"fr;q=0.5, de;q=0.5", "fr"},             // the earlier on a tie
		{"*", "en"},                              // any
		{"ja, *;q=0.5, de;q=0.4", "en"},          // the wildcard is English
		{"de;q=2, fr;q=0.3", "fr"},               // out of range: ignored
		{"de;q=abc", "en"},                       // malformed q
		{"toolongtag-x, es", "es"},               // malformed tag
		{" fr ; q=0.7 , de ; q=0.6 ", "fr"},      // spaces
		{"de;level=1;q=0.4, es;q=0.3", "de"},     // other parameters
		{strings.Repeat("x,", 40) + "de", "en"},  // past the range bound
		{strings.Repeat(" ", 2000) + "de", "en"}, // past the byte bound
		{"es;q=0.001, en-GB;q=0.002", "en"},      // three decimals
		{"fr;q=1.0, de", "fr"},                   // q=1.0 equals the default
	}
	for _, c := range cases {
		t.Run(c.header, func(t *testing.T) {
			if got := pickLanguage([]byte(c.header)).Lang; got != c.want {
				t.Errorf("pickLanguage(%q): got %s, want %s", c.header, got, c.want)
			}
		})
	}
}

// TestLanguagesAreComplete checks that no language leaves a text empty and
// that placeholders match English.
func TestLanguagesAreComplete(t *testing.T) {
	en := reflect.ValueOf(*languages["en"])
	for tag, tx := range languages {
		v := reflect.ValueOf(*tx)
		if tx.Lang != tag {
			t.Errorf("%s: Lang is %q", tag, tx.Lang)
		}
		for i := range v.NumField() {
			name, s, ref := v.Type().Field(i).Name, v.Field(i).String(), en.Field(i).String()
			if s == "" {
				t.Errorf("%s: %s is empty", tag, name)
			}
			for _, ph := range []string{"{n}", "{h}", "{m}"} {
				if strings.Contains(ref, ph) != strings.Contains(s, ph) {
					t.Errorf("%s: %s = %q, want placeholder %s as in English %q", tag, name, s, ph, ref)
				}
			}
		}
	}
	for _, want := range []string{"en", "zh", "es", "fr", "de"} {
		if languages[want] == nil {
			t.Errorf("language %s missing", want)
		}
	}
}

func TestETAText(t *testing.T) {
	cases := []struct {
		lang          string
		eta           time.Duration
		known, paused bool
		want          string
	}{
		{"en", 0, false, true, "Paused"},
		{"en", 0, false, false, "Unknown"},
		{"en", 20 * time.Second, true, false, "Less than a minute"},
		{"en", 80 * time.Second, true, false, "About 1 minute"},
		{"en", 7 * time.Minute, true, false, "About 7 minutes"},
		{"en", 60 * time.Minute, true, false, "About 1 hour"},
		{"en", 120 * time.Minute, true, false, "About 2 hours"},
		{"en", 95 * time.Minute, true, false, "About 1 h 35 min"},
		{"de", 7 * time.Minute, true, false, "Etwa 7 Minuten"},
		{"fr", 20 * time.Second, true, false, "Moins d'une minute"},
		{"es", 7 * time.Minute, true, false, "Unos 7 minutos"},
		{"zh", 95 * time.Minute, true, false, "约 1 小时 35 分钟"},
	}
	for _, c := range cases {
		t.Run(c.lang+"/"+c.want, func(t *testing.T) {
			if got := etaText(languages[c.lang], c.eta, c.known, c.paused); got != c.want {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
}

func TestQueuePageIsLocalised(t *testing.T) {
	h := newHarness(t, func(c *Config, _ *Deps) { c.Events[0].RatePerSecond = 0 })
	cases := []struct {
		acceptLanguage, lang string
		want                 []string
	}{
		{"", "en", []string{"You are in line", "Your place in line", "Estimated wait"}},
		{"de-CH, de;q=0.9", "de", []string{"Sie sind in der Warteschlange", "Ihr Platz in der Warteschlange", "Geschätzte Wartezeit"}},
		{"zh-CN", "zh", []string{"您正在排队", "您的排队位置", "预计等待时间"}},
		{"en;q=0.2, es", "es", []string{"Estás en la fila", "Tu lugar en la fila"}},
		{"fr", "fr", []string{"Votre place dans la file", "Attente estimée"}},
		{"ja", "en", []string{"You are in line"}},
	}
	for _, c := range cases {
		t.Run(c.lang+"/"+c.acceptLanguage, func(t *testing.T) {
			r := h.do("GET", "/shows/1", "Accept", "text/html", "Accept-Language", c.acceptLanguage)
			if r.status != 200 {
				t.Fatalf("got status %d, want 200", r.status)
			}
			body := string(r.body)
			if !strings.Contains(body, `<html lang="`+c.lang+`">`) {
				t.Errorf("page lacks lang=%q", c.lang)
			}
			for _, w := range c.want {
				if !strings.Contains(body, w) {
					t.Errorf("page lacks %q", w)
				}
			}
			if c.lang != "en" && strings.Contains(body, "Your place in line") {
				t.Error("page still carries English labels")
			}
			if !strings.Contains(body, "/_foyer/v1/events/show/stream?return_to=%2Fshows%2F1") {
				t.Error("page lacks the stream URL")
			}
			if vary := r.header("Vary"); !strings.Contains(vary, "Accept-Language") {
				t.Errorf("Vary: got %q, want Accept-Language", vary)
			}
		})
	}
}

func FuzzPickLanguage(f *testing.F) {
	for _, s := range []string{"de-DE,de;q=0.9", "*;q=0.1", "fr;q=1e-3", "zh;q=NaN", ";;;,,,q=", "es;q=0.5;q=0.6"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, h []byte) {
		tx := pickLanguage(h)
		if tx == nil || languages[tx.Lang] != tx {
			t.Fatalf("pickLanguage(%q) = %v, want one of the languages", h, tx)
		}
	})
}
