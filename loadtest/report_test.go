package loadtest

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"image/png"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// reportSample is a realistic 10-minute drop: 100,000 fans arrive in the
// first minute and are admitted at 180 per second. pass chooses whether it
// meets every target.
func reportSample(pass bool) *Result {
	rng := rand.New(rand.NewPCG(4, 2))
	const secs, rate = 600, 180.0
	r := &Result{
		Scenario: "stadium-drop (scaled)", Target: "http://127.0.0.1:8080", Event: "finals-2026",
		DurationSeconds: secs, Fans: 100000, Joined: 99800, Admitted: 94500, Abandoned: 5300,
		SeatsSold: 88000, HoldsExpired: 3100, Conflicts: 12500,
		ConfiguredRate: rate, AdmittedPerSecond: 179.6, RateError: 0.011,
		KendallTau: 0.0004, Inversions: 1780000, FairnessFans: 99000, OutOfTurn: 0,
		ETAErrorMedian: 0.08, ETAErrorP90: 0.21, ETASamples: 1200000, Failed: 200,
		LatencyMS: map[string]Latency{
			"join":    {Count: 99800, Errors: 20, P50: 2.1, P90: 4.5, P99: 11, P999: 31, Max: 80},
			"status":  {Count: 2400000, Errors: 40, P50: 0.9, P90: 2.2, P99: 7.5, P999: 19, Max: 64},
			"page":    {Count: 60000, P50: 1.4, P90: 3, P99: 9, P999: 22, Max: 40},
			"venue":   {Count: 94500, P50: 4, P90: 9, P99: 25, P999: 70, Max: 120},
			"hold":    {Count: 110000, Errors: 12500, P50: 6, P90: 14, P99: 38, P999: 90, Max: 210},
			"confirm": {Count: 88000, P50: 5, P90: 12, P99: 30, P999: 75, Max: 160},
		},
		Errors: map[string]int64{"http_4xx": 12500, "timeout": 45, "connect": 15},
	}
	waiting := 0.0
	for s := range secs {
		arrive := 0.0
		if s < 60 {
			arrive = 99800.0 / 60
		}
		adm := 0.0
		if waiting > 0 || arrive > 0 {
			adm = min(waiting+arrive, rate+rng.NormFloat64()*4)
		}
		waiting = max(0, waiting+arrive-adm-waiting*0.0001)
		lat := func(base float64) float64 { return base * (1 + 0.3*rng.Float64()) }
		p := Point{Seconds: float64(s), Waiting: int(waiting), AdmittedPerSec: adm, ConfiguredRate: rate,
			RequestsPerSec: waiting/2 + arrive + adm*3,
			LatencyP50MS:   map[string]float64{"status": lat(0.9), "venue": lat(4), "hold": lat(6), "confirm": lat(5)},
			LatencyP99MS:   map[string]float64{"status": lat(7), "venue": lat(25), "hold": lat(38), "confirm": lat(30)}}
		if s < 60 {
			p.LatencyP50MS["join"], p.LatencyP99MS["join"] = lat(2), lat(11)
		}
		if s >= 300 && s < 303 { // a short stall
			p.LatencyP99MS["status"] = 180
		}
		r.Series = append(r.Series, p)
	}
	for w := 0; w < 53; w++ {
		e := 0.004 + 0.007*rng.Float64()
		r.Windows = append(r.Windows, Window{StartSeconds: float64(w * 10), Admitted: int(rate * 10 * (1 - e)), Expected: rate * 10, Error: e, Counted: true})
	}
	r.Windows = append(r.Windows, Window{StartSeconds: 530, Admitted: 1100, Expected: 1800, Error: 0.39}) // the line ran dry
	for c := range 12 {
		from := float64(c * 5)
		r.Cohorts = append(r.Cohorts, Cohort{ArrivedFromSeconds: from, ArrivedToSeconds: from + 5, Fans: 8300, Admitted: 7900,
			WaitP50Seconds: 25 + from*9.2, WaitP90Seconds: 40 + from*9.4})
	}
	for i, up := range []float64{15, 30, 60, 90, 120, 180, 240, 300, 360, 420, 480, 540, 600, 1200, math.MaxInt32} {
		r.WaitSeconds = append(r.WaitSeconds, Bucket{UpToSeconds: up, Count: max(0, 2000+i*900-i*i*40)})
	}
	r.WaitSeconds[13].Count, r.WaitSeconds[14].Count = 120, 0
	if !pass {
		r.Oversold, r.RateError, r.KendallTau, r.ETAErrorMedian = 3, 0.031, 0.02, 0.35
		r.Windows[7].Error = 0.031
		l := r.LatencyMS["status"]
		l.P99, l.P999, l.Max = 62, 180, 240
		r.LatencyMS["status"] = l
	}
	return r
}

func reportRender(t *testing.T, r *Result) string {
	t.Helper()
	var b bytes.Buffer
	if err := WriteHTML(&b, r); err != nil {
		t.Fatalf("WriteHTML: %v", err)
	}
	return b.String()
}

// reportWellFormed parses the page strictly as XML: every element is
// closed, every attribute quoted, every text escaped.
func reportWellFormed(t *testing.T, page string) {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(page))
	d.Strict, d.Entity = true, xml.HTMLEntity
	for {
		_, err := d.Token()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			line, _ := d.InputPos()
			t.Fatalf("report is not well formed: %v (line %d: %q)", err, line, strings.Split(page, "\n")[line-1])
		}
	}
}

var reportVerdictRow = regexp.MustCompile(`data-target="([a-z0-9_]+)" data-status="([a-z/]+)"`)

func reportStatuses(page string) map[string]string {
	m := map[string]string{}
	for _, g := range reportVerdictRow.FindAllStringSubmatch(page, -1) {
		m[g[1]] = g[2]
	}
	return m
}

func TestReportStructure(t *testing.T) {
	for _, pass := range []bool{true, false} {
		r := reportSample(pass)
		page := reportRender(t, r)
		reportWellFormed(t, page)
		if n := strings.Count(page, "<svg "); n != 7 {
			t.Errorf("pass=%v: %d charts, want 7", pass, n)
		}
		if strings.Count(page, "<title id=") != 7 || strings.Count(page, "<desc id=") != 7 || strings.Count(page, "aria-labelledby=") != 7 {
			t.Errorf("pass=%v: every chart needs a title, a desc and aria-labelledby", pass)
		}
		if n := strings.Count(page, "<details>"); n < 7 {
			t.Errorf("pass=%v: %d data tables, want at least 7", pass, n)
		}
		for _, want := range []string{"Fans in line", "Admissions per second vs configured rate", "Latency p99 per endpoint over time",
			"Wait-time distribution", "Time in line by arrival cohort", "stadium-drop (scaled)", "finals-2026", "http_4xx", "confirm"} {
			if !strings.Contains(page, want) {
				t.Errorf("pass=%v: report lacks %q", pass, want)
			}
		}
		want := "pass"
		if !pass {
			want = "fail"
		}
		got := reportStatuses(page)
		if len(got) != 5 {
			t.Fatalf("pass=%v: verdict rows %v, want 5", pass, got)
		}
		for k, v := range got {
			if v != want {
				t.Errorf("pass=%v: verdict %s = %s, want %s", pass, k, v, want)
			}
		}
		overs := regexp.MustCompile(`<div class="fig (good|bad)"><dt>Oversold</dt>`).FindStringSubmatch(page)
		if wantClass := map[bool]string{true: "good", false: "bad"}[pass]; overs == nil || overs[1] != wantClass {
			t.Errorf("pass=%v: oversold figure %v, want class %s", pass, overs, wantClass)
		}
		if !pass && !strings.Contains(page, `class="bar bad"`) {
			t.Error("a window off by more than 2 % is not marked")
		}
	}
}

func TestReportVerdicts(t *testing.T) {
	status := func(k string, mut func(*Result)) string {
		r := reportSample(true)
		mut(r)
		for _, v := range reportVerdicts(r) {
			if v.Key == k {
				return v.Status
			}
		}
		t.Fatalf("no verdict %s", k)
		return ""
	}
	setP99 := func(v float64) func(*Result) {
		return func(r *Result) { l := r.LatencyMS["status"]; l.P99 = v; r.LatencyMS["status"] = l }
	}
	cases := []struct {
		key, want string
		mut       func(*Result)
	}{
		{"oversell", "pass", func(r *Result) { r.Oversold = 0 }},
		{"oversell", "fail", func(r *Result) { r.Oversold = 1 }},
		{"oversell", "n/a", func(r *Result) { r.SeatingSkipped = "venue map answered 404" }},
		{"oversell", "fail", func(r *Result) { r.SeatingSkipped = "disabled"; r.Oversold = 2 }},
		{"admission_rate", "pass", func(r *Result) { r.RateError = 0.02; r.Windows = nil }},
		{"admission_rate", "fail", func(r *Result) { r.RateError = 0.0201; r.Windows = nil }},
		{"admission_rate", "fail", func(r *Result) { r.Windows[3].Error = 0.05 }}, // a window worse than RateError
		{"admission_rate", "pass", func(r *Result) { r.Windows[3].Error, r.Windows[3].Counted = 0.05, false }},
		{"admission_rate", "n/a", func(r *Result) {
			for i := range r.Windows {
				r.Windows[i].Counted = false
			}
		}},
		{"admission_rate", "fail", func(r *Result) { r.RateError = math.NaN() }},
		{"admission_rate", "n/a", func(r *Result) { r.ConfiguredRate = 0; r.Windows = nil }},
		{"kendall_tau", "pass", func(r *Result) { r.KendallTau = 0.01 }},
		{"kendall_tau", "fail", func(r *Result) { r.KendallTau = 0.0101 }},
		{"kendall_tau", "n/a", func(r *Result) { r.FairnessFans = 1 }},
		{"eta_error", "pass", func(r *Result) { r.ETAErrorMedian = 0.2; r.ETAErrorP90 = 0.9 }},
		{"eta_error", "fail", func(r *Result) { r.ETAErrorMedian = 0.21 }},
		{"eta_error", "n/a", func(r *Result) { r.ETASamples = 0 }},
		{"status_p99", "pass", setP99(50)},
		{"status_p99", "fail", setP99(50.1)},
		{"status_p99", "n/a", func(r *Result) { delete(r.LatencyMS, "status") }},
	}
	for _, c := range cases {
		if got := status(c.key, c.mut); got != c.want {
			t.Errorf("%s: %s, want %s", c.key, got, c.want)
		}
	}
}

func TestReportSelfContained(t *testing.T) {
	r := reportSample(true)
	page := strings.ReplaceAll(reportRender(t, r), r.Target, "")
	lower := strings.ToLower(page)
	for _, bad := range []string{"http://", "https://", "<script", "<link", "<img", "<iframe", "url(", "@import", "src="} {
		if strings.Contains(lower, bad) {
			t.Errorf("report contains %q", bad)
		}
	}
	if len(page) > 600_000 {
		t.Errorf("report of a 10-minute run is %d bytes", len(page))
	}
}

func TestReportEscapesHostileNames(t *testing.T) {
	const evil = `"><script>alert('x')</script><img src=x onerror=alert(1)>&amp;`
	r := reportSample(true)
	r.Scenario, r.Event, r.Target, r.SeatingSkipped = evil, evil, "https://evil.example/"+evil, evil
	r.LatencyMS[evil] = Latency{Count: 1, P99: 1}
	r.Errors[evil] = 1
	r.Series[10].LatencyP99MS[evil] = 3
	page := reportRender(t, r)
	reportWellFormed(t, page)
	for _, bad := range []string{"<script", "<img", "onerror=alert(1)>", evil} {
		if strings.Contains(page, bad) {
			t.Errorf("hostile name leaked %q", bad)
		}
	}
	if !strings.Contains(page, "&lt;script&gt;") {
		t.Error("hostile name not shown escaped")
	}
}

func TestReportEmpty(t *testing.T) {
	page := reportRender(t, &Result{})
	reportWellFormed(t, page)
	if strings.Contains(page, "<svg") {
		t.Error("empty result drew a chart")
	}
	if n := strings.Count(page, `<p class="note">`); n < 7 {
		t.Errorf("%d notes for 7 empty charts", n)
	}
	got := reportStatuses(page)
	want := map[string]string{"oversell": "pass", "admission_rate": "n/a", "kendall_tau": "n/a", "eta_error": "n/a", "status_p99": "n/a"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("empty result: %s = %q, want %q", k, got[k], v)
		}
	}
	// A series whose latency maps are empty and a NaN point still render.
	r := &Result{Series: []Point{{Seconds: 0, Waiting: 3}, {Seconds: 1, AdmittedPerSec: math.NaN()}}}
	reportWellFormed(t, reportRender(t, r))

	if err := WriteHTML(io.Discard, nil); err == nil || !strings.HasPrefix(err.Error(), "loadtest: ") {
		t.Errorf("nil result: %v", err)
	}
	if err := WriteHTML(reportFailWriter{}, reportSample(true)); err == nil || !strings.HasPrefix(err.Error(), "loadtest: ") {
		t.Errorf("failing writer: %v", err)
	}
}

type reportFailWriter struct{}

func (reportFailWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestReportDownsample(t *testing.T) {
	r := reportSample(true)
	long := make([]Point, 0, 20000)
	for i := range 20000 {
		p := r.Series[i%len(r.Series)]
		p.Seconds = float64(i)
		long = append(long, p)
	}
	long[12345].LatencyP99MS = map[string]float64{"status": 2500}
	long[777].Waiting = 1_000_000
	ds := reportDownsample(long)
	if len(ds) > reportMaxPoints || len(ds) < reportTargetPoints/2 {
		t.Fatalf("downsampled to %d points", len(ds))
	}
	var peakLat float64
	var peakWait int
	for _, p := range ds {
		peakLat, peakWait = max(peakLat, p.LatencyP99MS["status"]), max(peakWait, p.Waiting)
	}
	if peakLat != 2500 || peakWait != 1_000_000 {
		t.Errorf("downsampling hid a peak: p99 %v, waiting %v", peakLat, peakWait)
	}
	r.Series = long
	page := reportRender(t, r)
	reportWellFormed(t, page)
	if len(page) > 1_500_000 {
		t.Errorf("report of 20,000 points is %d bytes", len(page))
	}
}

// TestReportChromium renders the report in headless Chromium and checks the
// screenshot is a real picture. Set FOYER_REPORT_PNG to keep a copy.
func TestReportChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium not installed")
	}
	dir := t.TempDir()
	report, shot := filepath.Join(dir, "report.html"), filepath.Join(dir, "report.png")
	var b bytes.Buffer
	if err := WriteHTML(&b, reportSample(false)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(report, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
		"--user-data-dir="+filepath.Join(dir, "profile"), "--window-size=1100,5200", "--screenshot="+shot, "file://"+report)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, out)
	}
	data, err := os.ReadFile(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	if len(data) < 50_000 {
		t.Errorf("screenshot is only %d bytes", len(data))
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	colours := map[uint32]bool{}
	bounds := img.Bounds()
	for y := bounds.Min.Y; y < bounds.Max.Y; y += 7 {
		for x := bounds.Min.X; x < bounds.Max.X; x += 7 {
			r, g, b, _ := img.At(x, y).RGBA()
			colours[r>>12<<8|g>>12<<4|b>>12] = true
		}
	}
	if len(colours) < 20 {
		t.Errorf("screenshot has only %d colours", len(colours))
	}
	if keep := os.Getenv("FOYER_REPORT_PNG"); keep != "" {
		if err := os.WriteFile(keep, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(strings.TrimSuffix(keep, ".png")+".html", b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
