package proxy

import (
	"reflect"
	"slices"
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
			if s == "" && name != "Footer" {
				t.Errorf("%s: %s is empty", tag, name)
			}
			want, got := placeholder.FindAllString(ref, -1), placeholder.FindAllString(s, -1)
			slices.Sort(want)
			slices.Sort(got)
			if !slices.Equal(want, got) {
				t.Errorf("%s: %s = %q has placeholders %v, want %v as in English %q", tag, name, s, got, want, ref)
			}
		}
	}
	for _, want := range languageTags {
		if languages[want] == nil {
			t.Errorf("language %s missing", want)
		}
	}
	if len(languages) != len(languageTags) {
		t.Errorf("languageTags lists %d languages, languages has %d", len(languageTags), len(languages))
	}
}

func TestETAText(t *testing.T) {
	about := func(d time.Duration) waitEstimate {
		return waitEstimate{Known: true, Wait: d, Low: d * 19 / 20, High: d * 21 / 20}
	}
	span := func(lo, d, hi time.Duration) waitEstimate {
		return waitEstimate{Known: true, Wait: d, Low: lo, High: hi}
	}
	cases := []struct {
		lang   string
		w      waitEstimate
		paused bool
		want   string
	}{
		{"en", waitEstimate{}, true, "Paused"},
		{"en", waitEstimate{}, false, "Unknown"},
		{"en", about(20 * time.Second), false, "Less than a minute"},
		{"en", about(80 * time.Second), false, "About 1 minute"},
		{"en", about(7 * time.Minute), false, "About 7 minutes"},
		{"en", about(60 * time.Minute), false, "About 1 hour"},
		{"en", about(120 * time.Minute), false, "About 2 hours"},
		{"en", about(70 * time.Minute), false, "About 1 hour 10 minutes"},
		{"en", about(93 * time.Minute), false, "About 1 hour 35 minutes"}, // five minutes past an hour
		{"en", about(152 * time.Minute), false, "About 2 hours 30 minutes"},
		{"en", about(58*time.Minute + 40*time.Second), false, "About 59 minutes"},
		{"en", about(200 * time.Minute), false, "About 3 hours 15 minutes"}, // a quarter past 3 hours
		{"en", about(1111 * time.Minute), false, "About 19 hours"},          // the hour past 10 hours
		{"en", span(8*time.Minute, 11*time.Minute, 15*time.Minute), false, "Between 8 and 15 minutes"},
		{"en", span(20*time.Second, 40*time.Second, 3*time.Minute), false, "Between 1 and 3 minutes"},
		{"en", span(50*time.Minute, 75*time.Minute, 100*time.Minute), false, "Between 50 min and 1 h 40 min"},
		{"en", span(60*time.Minute, 90*time.Minute, 120*time.Minute), false, "Between 1 h and 2 h"},
		{"en", span(9*time.Minute, 10*time.Minute, 12*time.Minute), false, "About 10 minutes"},    // narrow: the middle
		{"en", span(2*time.Minute, 3*time.Minute, 150*time.Second), false, "About 3 minutes"},     // within two minutes
		{"en", span(10*time.Second, 20*time.Second, 40*time.Second), false, "Less than a minute"}, // all under one
		{"de", about(7 * time.Minute), false, "Etwa 7 Minuten"},
		{"de", span(8*time.Minute, 11*time.Minute, 15*time.Minute), false, "Zwischen 8 und 15 Minuten"},
		{"fr", about(20 * time.Second), false, "Moins d'une minute"},
		{"fr", about(70 * time.Minute), false, "Environ 1 heure 10 minutes"},
		{"es", about(7 * time.Minute), false, "Unos 7 minutos"},
		{"es", span(8*time.Minute, 11*time.Minute, 15*time.Minute), false, "Entre 8 y 15 minutos"},
		{"zh", about(95 * time.Minute), false, "约 1 小时 35 分钟"},
		{"zh", span(8*time.Minute, 11*time.Minute, 15*time.Minute), false, "约 8 至 15 分钟"},
	}
	for _, c := range cases {
		t.Run(c.lang+"/"+c.want, func(t *testing.T) {
			if got := etaText(languages[c.lang], c.w, c.paused); got != c.want {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
}

func TestCountdown(t *testing.T) {
	cases := []struct {
		d    time.Duration
		want string
	}{
		{0, "00:00"},
		{300 * time.Millisecond, "00:01"}, // rounded up: zero only at zero
		{4*time.Minute + 59*time.Second, "04:59"},
		{time.Hour, "01:00:00"},
		{26*time.Hour + 3*time.Minute + 4*time.Second, "26:03:04"},
	}
	for _, c := range cases {
		if got := countdown(c.d); got != c.want {
			t.Errorf("countdown(%v): got %q, want %q", c.d, got, c.want)
		}
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
