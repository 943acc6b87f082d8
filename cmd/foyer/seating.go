package main

import (
	"context"
	"crypto/subtle"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/foyerhq/foyer/admission"
	"github.com/foyerhq/foyer/queue"
	"github.com/foyerhq/foyer/seating"
)

// runSeating runs the seat-lock service alone (foyer seating --config F): the
// seating API on seating_listen and an admin listener with /metrics, /livez
// and /readyz on admin_listen. It uses the configuration file's store,
// tokens and seating sections.
func runSeating(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("seating", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "configuration file (YAML) with a seating section; required")
	listen := fs.String("seating-listen", "", "seating API listen address (default 127.0.0.1:8081)")
	adminListen := fs.String("admin-listen", "", "admin listen address (default 127.0.0.1:9090)")
	if err := fs.Parse(args); err != nil {
		return flagError(err)
	}
	if *configPath == "" || fs.NArg() > 0 {
		return usageError{"usage: foyer seating --config FILE [--seating-listen ADDR] [--admin-listen ADDR]"}
	}
	c, lines, err := readConfig(*configPath)
	if err != nil {
		return err
	}
	if err := applyEnv(c, getenv); err != nil {
		return err
	}
	overrideListen(c, "", *adminListen, *listen)
	c.defaults()
	if err := c.validateSeating(); err != nil {
		return locate(err, *configPath, lines)
	}
	log := newLogger(c.Log, stderr)
	tokens, err := seatingTokens(c)
	if err != nil {
		return locate(err, *configPath, lines)
	}
	events, err := loadSeatingEvents(c)
	if err != nil {
		return locate(err, *configPath, lines)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	store, shared, closeStore := openSeatingStore(c)
	defer closeStore()
	cache, err := seating.NewStandCache(seating.CacheConfig{Interval: time.Duration(c.Seating.CacheInterval)}, store, shared, reg, nil)
	if err != nil {
		return &configError{File: *configPath, Field: "seating.cache_interval", Msg: err.Error()}
	}
	defer cache.Close()
	srv, err := seating.New(seating.Config{
		Events:             events,
		HoldTTL:            time.Duration(c.Seating.HoldTTL),
		MaxHoldTotal:       time.Duration(c.Seating.MaxHoldTotal),
		MaxSeatsPerVisitor: c.Seating.MaxSeatsPerVisitor,
		MaxInflightHolds:   c.Seating.MaxInflightHolds,
		StoreTimeout:       time.Duration(c.Store.Timeout),
	}, store, cache, tokens, reg, log)
	if err != nil {
		return &configError{File: *configPath, Field: "seating", Msg: err.Error()}
	}
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = srv.Prepare(pctx)
	cancel()
	if err != nil {
		return fmt.Errorf("preparing venues (is the store reachable?): %w", err)
	}
	adminToken := c.AdminToken
	generated := adminToken == ""
	if generated {
		adminToken = randomToken()
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", c.SeatingListen)
	if err != nil {
		return fmt.Errorf("seating_listen: %w", err)
	}
	adm, err := lc.Listen(ctx, "tcp", c.AdminListen)
	if err != nil {
		ln.Close()
		return fmt.Errorf("admin_listen: %w", err)
	}
	ready := func(ctx context.Context) error { return store.Ping(ctx) }
	adminSrv := &http.Server{Handler: seatingAdmin(adminToken, reg, ready), ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 30 * time.Second}
	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(ln) }()
	go func() { errc <- adminSrv.Serve(adm) }()
	fmt.Fprintf(stdout, "foyer %s seating service\n", version)
	fmt.Fprintf(stdout, "  seating URL: http://%s/seating/v1/\n", browseAddr(ln.Addr()))
	fmt.Fprintf(stdout, "  admin URL:   http://%s/metrics\n", browseAddr(adm.Addr()))
	if generated {
		fmt.Fprintf(stdout, "  admin token: %s   (generated)\n", adminToken)
	}
	for _, e := range events {
		fmt.Fprintf(stdout, "  event %q: %d seats in %d stands, venue version %s\n", e.Name, e.Venue.SeatCount(), len(e.Venue.Stands), e.Venue.Version())
	}
	select {
	case <-ctx.Done():
	case err := <-errc:
		return fmt.Errorf("server stopped: %w", err)
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), time.Duration(c.Shutdown.Timeout))
	defer cancel()
	return errors.Join(srv.Shutdown(sctx), adminSrv.Shutdown(sctx))
}

// readConfig reads and decodes a configuration file.
func readConfig(path string) (*fileConfig, map[string]int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	return parseConfig(path, data)
}

// validateSeating checks what foyer seating needs of a configuration.
func (c *fileConfig) validateSeating() error {
	if len(c.Seating.Events) == 0 {
		return &configError{Field: "seating.events", Msg: "at least one event with a venue_file is required"}
	}
	for i, e := range c.Seating.Events {
		if !queue.ValidEvent(e.Name) {
			return &configError{Field: fmt.Sprintf("seating.events[%d].name", i), Msg: fmt.Sprintf("%q must match [a-z0-9_-]{1,64}", e.Name)}
		}
		if e.VenueFile == "" {
			return &configError{Field: fmt.Sprintf("seating.events[%d].venue_file", i), Msg: "is required (make one with foyer venue generate)"}
		}
	}
	if c.Tokens.SigningKey == "" && len(c.Tokens.VerifyKeys) == 0 {
		return &configError{Field: "tokens.verify_keys", Msg: "the seating service verifies the proxy's admission tokens: give the proxy's public JWKS here (or tokens.signing_key)"}
	}
	switch c.Store.Kind {
	case "memory", "redis":
	default:
		return &configError{Field: "store.kind", Msg: fmt.Sprintf("%q is not memory or redis", c.Store.Kind)}
	}
	if c.Store.Kind == "redis" && len(c.Store.Redis.Addrs) == 0 {
		return &configError{Field: "store.redis.addrs", Msg: "at least one address is required when store.kind is redis"}
	}
	return nil
}

// seatingTokens builds the verifier of admission tokens from the configured
// keys: the public half of the signing key, and the verification keys.
func seatingTokens(c *fileConfig) (*admission.Tokens, error) {
	var keys []admission.Key
	if c.Tokens.SigningKey != "" {
		ks, err := loadKeys(c)
		if err != nil {
			return nil, err
		}
		parsed, err := admission.ParseJWKS(ks.set.JWKS())
		if err != nil {
			return nil, err
		}
		keys = parsed
	} else {
		verify, err := loadVerifyKeys(c)
		if err != nil {
			return nil, err
		}
		keys = verify
	}
	set, err := admission.NewVerifyKeySet(keys...)
	if err != nil {
		return nil, &configError{Field: "tokens", Msg: err.Error()}
	}
	return admission.NewTokens(c.admissionConfig(), set)
}

// loadSeatingEvents reads every event's venue file.
func loadSeatingEvents(c *fileConfig) ([]seating.Event, error) {
	var events []seating.Event
	for i, e := range c.Seating.Events {
		field := fmt.Sprintf("seating.events[%d].venue_file", i)
		data, err := os.ReadFile(e.VenueFile)
		if err != nil {
			return nil, &configError{Field: field, Msg: err.Error()}
		}
		v, err := seating.ParseVenue(data)
		if err != nil {
			return nil, &configError{Field: field, Msg: fmt.Sprintf("%s: %v", e.VenueFile, err)}
		}
		events = append(events, seating.Event{Name: e.Name, Venue: v})
	}
	return events, nil
}

// openSeatingStore opens the authoritative seat store and the shared layer
// of the stand cache: Redis for several seating processes, memory for one.
func openSeatingStore(c *fileConfig) (seating.Store, seating.Shared, func()) {
	if c.Store.Kind == "memory" {
		return seating.NewMemory(nil), seating.NewMemoryShared(nil), func() {}
	}
	client := redisClient(c)
	// Seat keys live beside the lines under their own prefix: "seat", or
	// "<key_prefix>:seat" when deployments share one Redis.
	prefix := "seat"
	if p := c.Store.Redis.KeyPrefix; p != "" {
		prefix = p + ":seat"
	}
	return seating.NewRedis(client, seating.RedisOptions{Prefix: prefix}),
		seating.NewRedisShared(client, seating.RedisSharedOptions{Prefix: prefix}),
		func() { client.Close() }
}

// seatingAdmin is the admin listener of foyer seating: probes without a
// token, metrics behind it.
func seatingAdmin(token string, gatherer prometheus.Gatherer, ready func(context.Context) error) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"status":"ok"}`)
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		w.Header().Set("Content-Type", "application/json")
		if err := ready(ctx); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `{"status":"store_unreachable"}`)
			return
		}
		io.WriteString(w, `{"status":"ready"}`)
	})
	metrics := promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":{"code":"unauthorized","message":"a valid admin bearer token is required"}}`)
			return
		}
		metrics.ServeHTTP(w, r)
	})
	return mux
}
