package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/foyerhq/foyer/admission"
	"github.com/foyerhq/foyer/loadtest"
	"github.com/foyerhq/foyer/proxy"
	"github.com/foyerhq/foyer/queue"
	"github.com/foyerhq/foyer/seating"
)

// runRehearse is foyer rehearse: it stands up a whole deployment in this
// process (the proxy and the seating service, on the memory stores or on a
// given Redis), runs a scenario of configs/scenarios against it with the
// surge simulator, and writes the report.
func runRehearse(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("rehearse", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("scenario", "", "scenario name (configs/scenarios/NAME.yaml) or path; required")
	redisAddr := fs.String("redis", "", "run the stores on this Redis instead of in memory")
	fans := fs.Int("fans", 0, "override the scenario's number of fans (to scale it down)")
	rate := fs.Float64("rate", 0, "override the scenario's admission rate (the starting rate with the adaptive controller)")
	jsonOut := fs.String("json", "", "write the figures as JSON to this file")
	reportOut := fs.String("report", "", "write the HTML report to this file")
	timelineOut := fs.String("timeline", "", "write the deployment's figures, one row a second, as CSV to this file")
	if err := fs.Parse(args); err != nil {
		return flagError(err)
	}
	if *name == "" || fs.NArg() > 0 {
		return usageError{"usage: foyer rehearse --scenario NAME [--redis ADDR] [--fans N] [--rate R] [--json FILE] [--report FILE] [--timeline FILE]"}
	}
	sc, err := loadScenario(*name)
	if err != nil {
		return err
	}
	if *fans > 0 {
		sc.Fans = *fans
	}
	if *rate > 0 {
		sc.RatePerSecond = *rate
	}
	st, err := startRehearsal(ctx, sc, *redisAddr, slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		return err
	}
	defer st.close()
	admit := fmt.Sprintf("%g admissions/s", sc.RatePerSecond)
	if a := sc.Adaptive; a != (adaptiveConf{}) {
		admit = fmt.Sprintf("adaptive admission between %g and %g per second, from %g", a.MinRate, a.MaxRate, sc.RatePerSecond)
	}
	fmt.Fprintf(stdout, "rehearsal %q: %d fans against %s (event %s, %s, %d seats)\n",
		sc.Name, sc.Fans, st.url, sc.Event, admit, st.seats)
	if m := sc.CapacityModel; m.HoldCost > 0 {
		fmt.Fprintf(stdout, "capacity model: %d workers × %v a hold ≈ %.0f holds/s; max_inflight_holds %d\n",
			m.Workers, time.Duration(m.HoldCost), m.holdsPerSecond(), sc.Seating.MaxInflightHolds)
	}
	tctx, stopTimeline := context.WithCancel(ctx)
	tl := &timeline{st: st, start: time.Now()}
	sampled := make(chan struct{})
	go func() { tl.run(tctx); close(sampled) }()
	res, err := loadtest.Run(ctx, sc.config(st.url), stderr)
	stopTimeline()
	<-sampled
	if err != nil {
		return err
	}
	res.Scenario = sc.Name
	points := tl.snapshot()
	if *timelineOut != "" {
		if err := writeFile(*timelineOut, func(w io.Writer) error { return writeTimelineCSV(w, points) }); err != nil {
			return err
		}
	}
	err = writeResults(res, stdout, *jsonOut, *reportOut)
	printTimelineSummary(stdout, summarize(points), sc.CapacityModel.holdsPerSecond())
	return err
}

// rehearsal is a deployment running in this process.
type rehearsal struct {
	url   string
	close func()
	// event and seats are the event's name and its venue's size; proxy,
	// seating and metrics (the seating service's registry) are there to
	// be watched.
	event   string
	seats   int
	proxy   *proxy.Proxy
	seating *seating.Server
	metrics prometheus.Gatherer
}

// startRehearsal starts the seating service and the proxy for sc on
// loopback ports: one event, the scenario's rate (or adaptive controller)
// and a generated venue, with the scenario's capacity model in front of the
// seating store.
func startRehearsal(ctx context.Context, sc *scenario, redisAddr string, log *slog.Logger) (*rehearsal, error) {
	var closers []func()
	closeAll := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	fail := func(err error) (*rehearsal, error) {
		closeAll()
		return nil, err
	}
	key, err := admission.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	keys, err := admission.NewKeySet(key)
	if err != nil {
		return nil, err
	}
	tokens, err := admission.NewTokens(admission.Config{}, keys)
	if err != nil {
		return nil, err
	}
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	tickets, err := queue.NewTicketSigner(ticketKey(secret))
	if err != nil {
		return nil, err
	}
	seats, stands := sc.Venue.Seats, sc.Venue.Stands
	if seats == 0 {
		seats = 10000
	}
	venue, err := seating.Generate(seating.GenerateConfig{Name: sc.Name, Seats: seats, Stands: stands, Seed: 1})
	if err != nil {
		return nil, err
	}

	var lines queue.Store = queue.NewMemory(nil)
	var seatStore seating.Store = seating.NewMemory(nil)
	var shared seating.Shared = seating.NewMemoryShared(nil)
	if redisAddr != "" {
		client := redis.NewClient(&redis.Options{Addr: redisAddr, PoolSize: 256})
		closers = append(closers, func() { client.Close() })
		prefix := fmt.Sprintf("rehearsal-%d", time.Now().UnixNano())
		lines = queue.NewRedis(client, queue.RedisOptions{Prefix: prefix})
		seatStore = seating.NewRedis(client, seating.RedisOptions{Prefix: prefix + ":seat"})
		shared = seating.NewRedisShared(client, seating.RedisSharedOptions{Prefix: prefix + ":seat"})
	}
	cache, err := seating.NewStandCache(seating.CacheConfig{}, seatStore, shared, nil, nil)
	if err != nil {
		return fail(err)
	}
	closers = append(closers, cache.Close)
	reg := prometheus.NewRegistry()
	seat, err := seating.New(seating.Config{
		Events:           []seating.Event{{Name: sc.Event, Venue: venue}},
		MaxInflightHolds: sc.Seating.MaxInflightHolds,
	}, sc.CapacityModel.wrap(seatStore), cache, tokens, reg, log)
	if err != nil {
		return fail(err)
	}
	if err := seat.Prepare(ctx); err != nil {
		return fail(err)
	}
	seatLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	go seat.Serve(seatLn)
	closers = append(closers, func() { _ = seat.Shutdown(context.Background()) })

	p, err := proxy.New(proxy.Config{
		Events:         []proxy.Event{sc.proxyEvent("http://" + seatLn.Addr().String())},
		OriginMaxConns: 4096,
	}, proxy.Deps{Store: lines, Tickets: tickets, Tokens: tokens, JWKS: keys.JWKS(), Logger: log})
	if err != nil {
		return fail(err)
	}
	pubLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() { p.Run(runCtx); close(done) }()
	go p.Serve(pubLn)
	closers = append(closers, func() {
		stop()
		<-done
		if err := p.Shutdown(context.Background()); err != nil && !errors.Is(err, context.Canceled) {
			log.Warn("rehearsal proxy shutdown", "err", err)
		}
	})
	return &rehearsal{
		url: "http://" + pubLn.Addr().String(), close: closeAll,
		event: sc.Event, seats: seats, proxy: p, seating: seat, metrics: reg,
	}, nil
}
