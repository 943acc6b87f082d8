package loadtest

// Result is what a load test measured: the summary printed at the end, the
// JSON for scripts (field names are part of the public contract of
// foyer loadtest --json) and the series the HTML report draws.
type Result struct {
	// Scenario names the scenario run, if any.
	Scenario string `json:"scenario,omitempty"`
	// Target is the base URL load was sent to; Event the event name.
	Target string `json:"target"`
	Event  string `json:"event"`
	// DurationSeconds is how long the run lasted.
	DurationSeconds float64 `json:"duration_seconds"`

	// The fans' journey.
	Fans       int `json:"fans"`       // virtual fans scheduled
	Joined     int `json:"joined"`     // fans who got a place in line
	Admitted   int `json:"admitted"`   // fans who got an admission token
	Abandoned  int `json:"abandoned"`  // fans who gave up while waiting
	Failed     int `json:"failed"`     // fans whose journey ended on errors (join refused, token rejected, …)
	Unfinished int `json:"unfinished"` // fans still on their way when the run's Duration ran out

	// Seating outcome.
	SeatsSold    int `json:"seats_sold"`    // seats confirmed
	Oversold     int `json:"oversold"`      // seats confirmed to more than one fan; must be 0
	HoldsExpired int `json:"holds_expired"` // holds left to expire
	Conflicts    int `json:"conflicts"`     // holds answered 409
	// SeatingSkipped says why the seating journey was not run, if it was
	// not (disabled, or the venue map answered 404).
	SeatingSkipped string `json:"seating_skipped,omitempty"`

	// Admission rate accuracy.
	ConfiguredRate    float64 `json:"configured_rate"`     // admissions per second the deployment was set to
	AdmittedPerSecond float64 `json:"admitted_per_second"` // observed, while fans were waiting
	RateError         float64 `json:"rate_error"`          // worst 10-second window, |observed−configured|/configured
	// RateEstimated is true when the configured rate was not given and
	// ConfiguredRate is the observed mean instead.
	RateEstimated bool     `json:"rate_estimated,omitempty"`
	Windows       []Window `json:"windows,omitempty"`

	// Fairness: order of admission against order of arrival for fans who
	// arrived after the sale started.
	KendallTau float64 `json:"kendall_tau"` // normalised Kendall tau distance, 0 = same order
	Inversions int64   `json:"inversions"`  // pairs admitted out of arrival order
	// FairnessFans is the number of fans the fairness figures cover.
	FairnessFans int `json:"fairness_fans"`
	// OutOfTurn counts fans whose status said admitted while the serving
	// counter in the same document was still below their sequence number.
	OutOfTurn int      `json:"out_of_turn"`
	Cohorts   []Cohort `json:"cohorts,omitempty"`

	// Wait-time honesty: |estimate shown − real wait| / real wait.
	ETAErrorMedian float64 `json:"eta_error_median"`
	ETAErrorP90    float64 `json:"eta_error_p90"`
	ETASamples     int     `json:"eta_samples"` // estimates compared

	// LatencyMS holds latency percentiles per endpoint (join, status,
	// page, venue, stand_status, hold, confirm, release, …).
	LatencyMS map[string]Latency `json:"latency_ms"`
	// Errors counts failed requests by kind (timeout, connect, http_5xx,
	// http_4xx, …).
	Errors map[string]int64 `json:"errors"`

	// Series are one point per second, for the report's charts.
	Series []Point `json:"series,omitempty"`
	// WaitSeconds is the distribution of time spent in line by admitted
	// fans.
	WaitSeconds []Bucket `json:"wait_seconds,omitempty"`
}

// Latency are latency percentiles of one endpoint, in milliseconds.
type Latency struct {
	Count  int64   `json:"count"`
	Errors int64   `json:"errors"`
	P50    float64 `json:"p50"`
	P90    float64 `json:"p90"`
	P99    float64 `json:"p99"`
	P999   float64 `json:"p999"`
	Max    float64 `json:"max"`
}

// Window is one 10-second window of admissions.
type Window struct {
	StartSeconds float64 `json:"start_seconds"`
	Admitted     int     `json:"admitted"`
	Expected     float64 `json:"expected"`
	Error        float64 `json:"error"` // fraction
	// Counted is true when fans waited through the whole window, so it
	// enters RateError and AdmittedPerSecond.
	Counted bool `json:"counted"`
}

// Cohort is the time in line of fans who arrived in one span.
type Cohort struct {
	ArrivedFromSeconds float64 `json:"arrived_from_seconds"`
	ArrivedToSeconds   float64 `json:"arrived_to_seconds"`
	Fans               int     `json:"fans"`
	Admitted           int     `json:"admitted"`
	WaitP50Seconds     float64 `json:"wait_p50_seconds"`
	WaitP90Seconds     float64 `json:"wait_p90_seconds"`
}

// Point is one second of the run.
type Point struct {
	Seconds        float64            `json:"t"`
	Waiting        int                `json:"waiting"`          // fans in line (joined, not admitted, not abandoned)
	AdmittedPerSec float64            `json:"admitted_per_sec"` // admissions observed in this second
	ConfiguredRate float64            `json:"configured_rate"`  // the rate in force
	RequestsPerSec float64            `json:"requests_per_sec"` // all requests sent
	LatencyP50MS   map[string]float64 `json:"latency_p50_ms,omitempty"`
	LatencyP99MS   map[string]float64 `json:"latency_p99_ms,omitempty"`
}

// Bucket is one bar of a histogram.
type Bucket struct {
	UpToSeconds float64 `json:"up_to_seconds"`
	Count       int     `json:"count"`
}
