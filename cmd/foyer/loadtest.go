package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/foyerhq/foyer/loadtest"
	"github.com/foyerhq/foyer/proxy"
)

// scenario is a named rehearsal in configs/scenarios/: the deployment to
// stand up (rate, venue, seating service) and the crowd to send at it.
// Every field is described in docs/loadtest.md.
type scenario struct {
	Name               string   `yaml:"name"`
	Description        string   `yaml:"description"`
	Event              string   `yaml:"event"`
	Fans               int      `yaml:"fans"`
	Arrival            string   `yaml:"arrival"`
	ArrivalDuration    duration `yaml:"arrival_duration"`
	SaleStart          duration `yaml:"sale_start"`
	Duration           duration `yaml:"duration"`
	RatePerSecond      float64  `yaml:"rate_per_second"`
	Venue              venueDim `yaml:"venue"`
	SeatPreference     string   `yaml:"seat_preference"`
	SeatsPerFan        int      `yaml:"seats_per_fan"`
	AbandonPerMinute   float64  `yaml:"abandon_per_minute"`
	ConfirmProbability float64  `yaml:"confirm_probability"`
	MaxConns           int      `yaml:"max_conns"`
	// Adaptive turns on the adaptive admission controller of the event, as
	// events[].adaptive of a configuration file does; RatePerSecond is then
	// the starting rate, and health_url, when empty, is the rehearsal's own
	// seating service.
	Adaptive adaptiveConf `yaml:"adaptive"`
	// Seating configures the rehearsal's seating service.
	Seating scenarioSeating `yaml:"seating"`
	// CapacityModel gives the seating core a finite capacity, as a real
	// one has; see capacityModel.
	CapacityModel capacityModel `yaml:"capacity_model"`
}

// scenarioSeating is the part of the seating configuration a scenario
// sets, with the meaning of the seating section of a configuration file.
type scenarioSeating struct {
	MaxInflightHolds int `yaml:"max_inflight_holds"`
}

type venueDim struct {
	Seats  int `yaml:"seats"`
	Stands int `yaml:"stands"`
}

// loadScenario reads a scenario by name (configs/scenarios/NAME.yaml) or
// path.
func loadScenario(nameOrPath string) (*scenario, error) {
	path := nameOrPath
	if !strings.ContainsAny(path, "/.") {
		path = filepath.Join("configs", "scenarios", nameOrPath+".yaml")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("scenario %q: %w", nameOrPath, err)
	}
	var sc scenario
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&sc); err != nil {
		return nil, yamlError(path, err, nil)
	}
	if sc.Event == "" {
		sc.Event = "rehearsal"
	}
	if sc.Name == "" {
		sc.Name = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	}
	if sc.Fans <= 0 {
		return nil, &configError{File: path, Field: "fans", Msg: "must be positive"}
	}
	if sc.RatePerSecond <= 0 {
		return nil, &configError{File: path, Field: "rate_per_second", Msg: "must be positive"}
	}
	if sc.Seating.MaxInflightHolds < 0 {
		return nil, &configError{File: path, Field: "seating.max_inflight_holds", Msg: "must be 0 (no bound) or more"}
	}
	if field, msg := sc.CapacityModel.validate(); field != "" {
		return nil, &configError{File: path, Field: field, Msg: msg}
	}
	// The event is checked as the proxy will check it, with stand-in
	// addresses for the rehearsal's listeners.
	pc := proxy.Config{Events: []proxy.Event{sc.proxyEvent("http://127.0.0.1:1")}}
	if err := pc.Defaults().Validate(); err != nil {
		var fe *proxy.FieldError
		if errors.As(err, &fe) {
			return nil, &configError{File: path, Field: strings.TrimPrefix(fe.Field, "events[0]."), Msg: fe.Err.Error()}
		}
		return nil, &configError{File: path, Msg: err.Error()}
	}
	return &sc, nil
}

// proxyEvent is the rehearsal's event, forwarding to the seating service
// at seatingURL.
func (sc *scenario) proxyEvent(seatingURL string) proxy.Event {
	ev := proxy.Event{
		Name: sc.Event, Title: sc.Name, Origin: seatingURL,
		RatePerSecond: sc.RatePerSecond, SessionDuration: 30 * time.Minute,
		Adaptive: sc.Adaptive.proxyConfig(),
	}
	if ev.Adaptive != nil && ev.Adaptive.HealthURL == "" {
		ev.Adaptive.HealthURL = seatingURL + "/seating/v1/health"
	}
	return ev
}

// config is the load test a scenario describes, against target.
func (sc *scenario) config(target string) loadtest.Config {
	return loadtest.Config{
		Target:             target,
		Event:              sc.Event,
		Fans:               sc.Fans,
		Arrival:            sc.Arrival,
		ArrivalDuration:    time.Duration(sc.ArrivalDuration),
		SaleStart:          time.Duration(sc.SaleStart),
		Duration:           time.Duration(sc.Duration),
		AbandonProbability: sc.AbandonPerMinute,
		SeatPreference:     sc.SeatPreference,
		SeatsPerFan:        sc.SeatsPerFan,
		ConfirmProbability: sc.ConfirmProbability,
		MaxConns:           sc.MaxConns,
		ConfiguredRate:     sc.configuredRate(),
	}
}

// configuredRate is the rate the load test measures admissions against:
// the scenario's, or 0 (estimated from what was observed) when the
// adaptive controller moves it.
func (sc *scenario) configuredRate() float64 {
	if sc.Adaptive != (adaptiveConf{}) {
		return 0
	}
	return sc.RatePerSecond
}

// runLoadtest is foyer loadtest: the surge simulator against a running
// deployment, a black-box client of its public API.
func runLoadtest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	target := fs.String("target", "", "base URL of the deployment (the proxy), e.g. http://127.0.0.1:8080")
	event := fs.String("event", "", "event name")
	fans := fs.Int("fans", 0, "virtual fans")
	arrival := fs.Duration("arrival", 0, "time over which fans arrive")
	shape := fs.String("shape", "", "arrival curve: burst, poisson or csv")
	arrivalsCSV := fs.String("arrivals-csv", "", "CSV of arrival offsets in seconds (with --shape csv)")
	saleStart := fs.Duration("sale-start", 0, "offset of the sale start; fairness covers fans arriving after it")
	dur := fs.Duration("duration", 0, "hard bound of the run")
	rate := fs.Float64("rate", 0, "the admission rate the deployment is set to (for rate accuracy)")
	seatingTarget := fs.String("seating-target", "", "base URL of the seating API if not behind --target")
	noSeating := fs.Bool("no-seating", false, "stop at admission; do not hold seats")
	seats := fs.String("seats", "", "seat preference: hot, spread or best")
	seatsPerFan := fs.Int("seats-per-fan", 0, "seats each fan holds (1-4)")
	abandon := fs.Float64("abandon", 0, "probability a waiting fan gives up per minute")
	confirm := fs.Float64("confirm", 0, "probability a fan confirms a hold (else it expires)")
	maxConns := fs.Int("max-conns", 0, "connections and workers")
	seed := fs.Uint64("seed", 0, "random seed")
	scenarioName := fs.String("scenario", "", "a scenario of configs/scenarios (name or path) giving the defaults")
	jsonOut := fs.String("json", "", "write the figures as JSON to this file")
	reportOut := fs.String("report", "", "write the HTML report to this file")
	if err := fs.Parse(args); err != nil {
		return flagError(err)
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("loadtest: unexpected argument %q", fs.Arg(0))}
	}
	cfg := loadtest.Config{}
	name := ""
	if *scenarioName != "" {
		sc, err := loadScenario(*scenarioName)
		if err != nil {
			return err
		}
		cfg, name = sc.config(*target), sc.Name
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	apply := func(flagName string, fn func()) {
		if set[flagName] {
			fn()
		}
	}
	apply("target", func() { cfg.Target = *target })
	apply("event", func() { cfg.Event = *event })
	apply("fans", func() { cfg.Fans = *fans })
	apply("arrival", func() { cfg.ArrivalDuration = *arrival })
	apply("shape", func() { cfg.Arrival = *shape })
	apply("sale-start", func() { cfg.SaleStart = *saleStart })
	apply("duration", func() { cfg.Duration = *dur })
	apply("rate", func() { cfg.ConfiguredRate = *rate })
	apply("seating-target", func() { cfg.SeatingTarget = *seatingTarget })
	apply("no-seating", func() { cfg.SeatingDisabled = *noSeating })
	apply("seats", func() { cfg.SeatPreference = *seats })
	apply("seats-per-fan", func() { cfg.SeatsPerFan = *seatsPerFan })
	apply("abandon", func() { cfg.AbandonProbability = *abandon })
	apply("confirm", func() { cfg.ConfirmProbability = *confirm })
	apply("max-conns", func() { cfg.MaxConns = *maxConns })
	apply("seed", func() { cfg.Seed = *seed })
	if *arrivalsCSV != "" {
		f, err := os.Open(*arrivalsCSV)
		if err != nil {
			return err
		}
		defer f.Close()
		cfg.ArrivalCSV = f
		if cfg.Arrival == "" {
			cfg.Arrival = loadtest.ArrivalCSV
		}
	}
	if err := cfg.Validate(); err != nil {
		return usageError{err.Error()}
	}
	res, err := loadtest.Run(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	res.Scenario = name
	return writeResults(res, stdout, *jsonOut, *reportOut)
}

// writeResults prints the summary and writes the JSON and HTML reports.
func writeResults(res *loadtest.Result, stdout io.Writer, jsonOut, reportOut string) error {
	if err := loadtest.Summary(stdout, res); err != nil {
		return err
	}
	write := func(path string, fn func(io.Writer) error) error {
		if path == "" {
			return nil
		}
		return writeFile(path, fn)
	}
	if err := write(jsonOut, func(w io.Writer) error { return loadtest.WriteJSON(w, res) }); err != nil {
		return err
	}
	if err := write(reportOut, func(w io.Writer) error { return loadtest.WriteHTML(w, res) }); err != nil {
		return err
	}
	if res.Oversold > 0 {
		return fmt.Errorf("loadtest: %d seats oversold", res.Oversold)
	}
	return nil
}

// writeFile creates path and writes it with fn.
func writeFile(path string, fn func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := fn(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
