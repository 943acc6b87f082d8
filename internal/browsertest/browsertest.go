// Package browsertest drives a real headless Chromium for tests, through the
// Chrome DevTools Protocol with chromedp: it finds the browser, starts it on
// a throwaway profile, records the page's console, checks pages with
// axe-core and writes screenshots.
//
// Nothing is downloaded here. Chromium comes from the system (Debian package
// chromium) and axe-core from the npm registry, both installed by
// scripts/test.sh: axe-core into .cache/axe-core, which git ignores. Where
// either is missing, Start and AxeSource skip the test with a message saying
// how to install it, unless FOYER_REQUIRE_BROWSER=1 or CI=true, where they
// fail: the test command must not pass by skipping its browser test.
package browsertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"
)

// AxeVersion is the axe-core release scripts/test.sh installs and the
// version the accessibility checks were written against.
const AxeVersion = "4.14.1"

// installHint says how to get what the browser tests need.
const installHint = "run ./scripts/test.sh once (as root on Debian it installs both), or install them by hand: " +
	"apt-get install chromium (or set FOYER_CHROMIUM to a Chrome or Chromium binary) and " +
	"npm install --prefix .cache/axe-core axe-core@" + AxeVersion + " (or set FOYER_AXE_JS to an axe.min.js)"

// Required reports whether a missing browser or axe-core fails the test
// rather than skipping it: under scripts/test.sh (FOYER_REQUIRE_BROWSER=1)
// and in CI (CI=true).
func Required() bool {
	return os.Getenv("FOYER_REQUIRE_BROWSER") == "1" || os.Getenv("CI") == "true"
}

// missing skips t, or fails it when the browser tests are required.
func missing(t testing.TB, what string) {
	t.Helper()
	msg := "browsertest: " + what + "; " + installHint
	if Required() {
		t.Fatal(msg + " — required because FOYER_REQUIRE_BROWSER=1 or CI=true")
	}
	t.Skip(msg)
}

// FindChromium returns the path of the browser: $FOYER_CHROMIUM, or the
// first of chromium, chromium-browser, google-chrome and
// google-chrome-stable found in PATH.
func FindChromium() (string, error) {
	if p := os.Getenv("FOYER_CHROMIUM"); p != "" {
		return exec.LookPath(p)
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("browsertest: no chromium, chromium-browser or google-chrome in PATH")
}

// repoRoot is the root of the module, found from this file's path: the
// tests run from their package's directory, and the caches and outputs live
// at the root.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// AxePath is where axe.min.js is read from: $FOYER_AXE_JS, or where
// scripts/test.sh installs it.
func AxePath() string {
	if p := os.Getenv("FOYER_AXE_JS"); p != "" {
		return p
	}
	return filepath.Join(repoRoot(), ".cache", "axe-core", "node_modules", "axe-core", "axe.min.js")
}

// AxeSource returns the source of axe.min.js, skipping or failing t (see
// Required) when it is not installed.
func AxeSource(t testing.TB) string {
	t.Helper()
	path := AxePath()
	src, err := os.ReadFile(path)
	if err != nil {
		missing(t, fmt.Sprintf("axe-core not found (%v)", err))
	}
	return string(src)
}

// ScreenshotDir is the directory screenshots are written to: $FOYER_SCREENSHOTS,
// or artifacts/screenshots at the root of the repository (ignored by git).
func ScreenshotDir() string {
	if d := os.Getenv("FOYER_SCREENSHOTS"); d != "" {
		return d
	}
	return filepath.Join(repoRoot(), "artifacts", "screenshots")
}

// Tab is one tab of a headless Chromium started for one test. Ctx is its
// chromedp context: pass it, or a context derived from it with a deadline,
// to chromedp.Run and chromedp.Do. The methods are safe for concurrent use;
// chromedp actions on one tab must not run concurrently.
type Tab struct {
	Ctx context.Context

	mu      sync.Mutex // guards console
	console []chromedp.ConsoleMessage
}

// Start starts a headless Chromium on a fresh profile and opens a tab; both
// end with t. A browser that is installed but does not start fails t.
func Start(t testing.TB) *Tab {
	t.Helper()
	bin, err := FindChromium()
	if err != nil {
		missing(t, err.Error())
	}
	// The flags keep the browser off the network except for the pages
	// the test opens, and work as root in a container (no sandbox, no GPU).
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(bin),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("mute-audio", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc() // waits for the browser process to exit
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("browsertest: starting %s: %v", bin, err)
	}
	tab := &Tab{Ctx: ctx}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			tab.mu.Lock()
			tab.console = append(tab.console, m)
			tab.mu.Unlock()
		}
	}()
	return tab
}

// Console returns the messages the tab's pages wrote to the console so far:
// console calls, uncaught exceptions and browser log entries.
func (tab *Tab) Console() []chromedp.ConsoleMessage {
	tab.mu.Lock()
	defer tab.mu.Unlock()
	return append([]chromedp.ConsoleMessage(nil), tab.console...)
}

// Exceptions returns the uncaught exceptions and unhandled promise
// rejections of the tab's pages so far, as text with their place.
func (tab *Tab) Exceptions() []string {
	var out []string
	for _, m := range tab.Console() {
		if m.IsException() {
			out = append(out, fmt.Sprintf("%s:%d: %s", m.URL, m.Line+1, m.Text))
		}
	}
	return out
}

var unsafeName = regexp.MustCompile(`[^a-zA-Z0-9_.-]+`)

// Screenshot writes a PNG of the whole page to ScreenshotDir()/name.png,
// checks that it decodes, logs its path and returns it.
func (tab *Tab) Screenshot(t testing.TB, name string) string {
	t.Helper()
	buf, err := chromedp.Run(tab.Ctx, chromedp.FullScreenshot(100)) // quality 100 is PNG
	if err != nil {
		t.Fatalf("browsertest: screenshot %s: %v", name, err)
	}
	img, err := png.Decode(bytes.NewReader(buf))
	if err != nil {
		t.Fatalf("browsertest: screenshot %s is not a PNG: %v", name, err)
	}
	if b := img.Bounds(); b.Dx() < 100 || b.Dy() < 100 {
		t.Fatalf("browsertest: screenshot %s is %dx%d pixels, want a page", name, b.Dx(), b.Dy())
	}
	dir := ScreenshotDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("browsertest: %v", err)
	}
	path := filepath.Join(dir, unsafeName.ReplaceAllString(name, "_")+".png")
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		t.Fatalf("browsertest: %v", err)
	}
	t.Logf("screenshot %s: %s (%d bytes)", name, path, len(buf))
	return path
}
