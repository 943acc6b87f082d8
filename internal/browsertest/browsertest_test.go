package browsertest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// pages are the documents the tests open: one that breaks two critical
// rules, one that breaks none, and one whose script throws.
var pages = map[string]string{
	"/bad": `<!doctype html><html lang="en"><head><title>bad</title></head><body><main>
<h1>Bad</h1><img src="/nothing.png"><button></button></main></body></html>`,
	"/good": `<!doctype html><html lang="en"><head><title>good</title></head><body><main>
<h1>Good</h1><p>Plain text, a <a href="/bad">link</a> and a <button>button</button>.</p></main></body></html>`,
	"/throws": `<!doctype html><html lang="en"><head><title>throws</title></head><body><main>
<h1>Throws</h1><script>throw new Error("boom from the page");</script></main></body></html>`,
}

func newSite(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		page, ok := pages[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, page)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestBrowser checks the checks: axe-core finds the violations of a broken
// page and none on a clean one, exceptions are recorded, and a screenshot
// is a PNG in the chosen directory.
func TestBrowser(t *testing.T) {
	axe := AxeSource(t)
	tab := Start(t)
	site := newSite(t)

	tests := []struct {
		page     string
		blocking []string // rule ids that must be reported serious or critical
	}{
		{page: "/bad", blocking: []string{"button-name", "image-alt"}},
		{page: "/good"},
	}
	for _, tt := range tests {
		t.Run(strings.TrimPrefix(tt.page, "/"), func(t *testing.T) {
			if err := chromedp.Do(tab.Ctx, chromedp.Navigate(site.URL+tt.page)); err != nil {
				t.Fatal(err)
			}
			vs, err := tab.Audit(axe)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, v := range vs {
				if v.Blocking() {
					got = append(got, v.ID)
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.blocking) {
				t.Errorf("blocking violations of %s: got %v, want %v; all: %v", tt.page, got, tt.blocking, vs)
			}
		})
	}

	t.Run("exceptions", func(t *testing.T) {
		if err := chromedp.Do(tab.Ctx, chromedp.Navigate(site.URL+"/throws")); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			ex := tab.Exceptions()
			if len(ex) > 0 && strings.Contains(ex[0], "boom from the page") {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("exceptions: got %q, want the page's uncaught error", ex)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})

	t.Run("screenshot", func(t *testing.T) {
		dir := t.TempDir()
		t.Setenv("FOYER_SCREENSHOTS", dir)
		if err := chromedp.Do(tab.Ctx, chromedp.Navigate(site.URL+"/good")); err != nil {
			t.Fatal(err)
		}
		path := tab.Screenshot(t, "good page")
		if want := filepath.Join(dir, "good_page.png"); path != want {
			t.Errorf("path: got %s, want %s", path, want)
		}
		if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
			t.Errorf("screenshot file: %v, %v", fi, err)
		}
	})
}

func TestRequired(t *testing.T) {
	tests := []struct {
		require, ci string
		want        bool
	}{
		{"", "", false},
		{"1", "", true},
		{"", "true", true},
		{"0", "false", false},
	}
	for _, tt := range tests {
		t.Setenv("FOYER_REQUIRE_BROWSER", tt.require)
		t.Setenv("CI", tt.ci)
		if got := Required(); got != tt.want {
			t.Errorf("Required() with FOYER_REQUIRE_BROWSER=%q CI=%q: got %v, want %v", tt.require, tt.ci, got, tt.want)
		}
	}
}
