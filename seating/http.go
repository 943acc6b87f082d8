package seating

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/foyerhq/foyer/admission"
)

// apiPrefix is the prefix of every route of the seating listener.
const apiPrefix = "/seating/v1/"

// Config is the configuration of a Server. Zero fields mean the documented
// defaults; New fills them in and validates.
type Config struct {
	// Events are the events the service sells seats for.
	Events []Event
	// HoldTTL is how long a hold lasts before it must be confirmed or
	// extended. Default 8m.
	HoldTTL time.Duration
	// MaxHoldTotal caps a hold's whole life, extensions included. Default 20m.
	MaxHoldTotal time.Duration
	// MaxSeatsPerVisitor caps the seats one visitor holds in a stand at once.
	// Default 8.
	MaxSeatsPerVisitor int
	// StoreTimeout bounds every call to the authoritative store. Default 2s.
	StoreTimeout time.Duration
	// MaxInflightHolds bounds the holds being decided at once. A hold
	// beyond it is refused at once with 503 overloaded and Retry-After,
	// and counts as a failed hold in the health document, so admission
	// slows down. It models what the core behind the seats can take (a
	// database pool, a payment provider): past it, waiting holds only add
	// latency to every hold. Default 0: no bound.
	MaxInflightHolds int
	// ReadTimeout, WriteTimeout and IdleTimeout bound connections. Defaults
	// 10s, 30s, 60s.
	ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// MaxHeaderBytes and MaxBodyBytes bound requests. Defaults 8 KiB and
	// 64 KiB.
	MaxHeaderBytes, MaxBodyBytes int
	// DemoPage serves a small seat picker at / for the demo of foyer serve.
	DemoPage bool
}

// Event is one on-sale the service sells seats for.
type Event struct {
	// Name is the event's name, the same as the proxy's.
	Name string
	// Venue is the event's seat map.
	Venue *Venue
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.HoldTTL, 8*time.Minute)
	def(&c.MaxHoldTotal, 20*time.Minute)
	def(&c.StoreTimeout, 2*time.Second)
	def(&c.ReadTimeout, 10*time.Second)
	def(&c.WriteTimeout, 30*time.Second)
	def(&c.IdleTimeout, 60*time.Second)
	if c.MaxSeatsPerVisitor == 0 {
		c.MaxSeatsPerVisitor = 8
	}
	if c.MaxHeaderBytes == 0 {
		c.MaxHeaderBytes = 8 << 10
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 64 << 10
	}
	return c
}

// Validate reports the first problem of c, naming the field.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case len(c.Events) == 0:
		return errors.New("seating: events: at least one event is required")
	case c.HoldTTL < time.Second || c.HoldTTL > MaxHoldTTL:
		return fmt.Errorf("seating: hold_ttl: must be between 1s and %v, got %v", MaxHoldTTL, c.HoldTTL)
	case c.MaxHoldTotal < c.HoldTTL:
		return fmt.Errorf("seating: max_hold_total: must be at least hold_ttl (%v), got %v", c.HoldTTL, c.MaxHoldTotal)
	case c.MaxSeatsPerVisitor < 1 || c.MaxSeatsPerVisitor > 64:
		return fmt.Errorf("seating: max_seats_per_visitor: must be between 1 and 64, got %d", c.MaxSeatsPerVisitor)
	case c.MaxInflightHolds < 0:
		return fmt.Errorf("seating: max_inflight_holds: must be 0 (no bound) or more, got %d", c.MaxInflightHolds)
	}
	seen := map[string]bool{}
	for i, e := range c.Events {
		if e.Name == "" || seen[e.Name] {
			return fmt.Errorf("seating: events[%d].name: %q is empty or used twice", i, e.Name)
		}
		seen[e.Name] = true
		if e.Venue == nil {
			return fmt.Errorf("seating: events[%d].venue: required", i)
		}
	}
	return nil
}

// Server is the seating service's HTTP API. It is safe for concurrent use.
type Server struct {
	cfg    Config
	store  Store
	cache  *StandCache
	tokens *admission.Tokens
	log    *slog.Logger
	m      *serverMetrics
	events map[string]*eventRuntime
	order  []*eventRuntime // events in configuration order
	health *healthTracker
	server *fasthttp.Server
	// holding counts the holds being decided, for MaxInflightHolds.
	holding atomic.Int64
}

// eventRuntime is what the server keeps of one event.
type eventRuntime struct {
	name  string
	venue *Venue
	// seatIDs[stand][index] is the seat's id, for answers.
	seatIDs map[string][]string
	stands  []string
	// standIDs interns the stand ids, so a lookup with a request's bytes
	// yields the id without allocating; seatCounts are the Foyer-Seats
	// header values.
	standIDs   map[string]string
	seatCounts map[string]string
	// cookie is the proxy's admission cookie of this event.
	cookie string
	// mapJSON, mapGzip and mapETag are the static map, computed once.
	mapJSON, mapGzip []byte
	mapETag          string
}

// New returns a seating server. tokens verifies admission tokens (a key set
// with only public keys is enough); cache serves the seat map.
func New(cfg Config, store Store, cache *StandCache, tokens *admission.Tokens, reg prometheus.Registerer, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, store: store, cache: cache, tokens: tokens, log: log, events: map[string]*eventRuntime{}, health: newHealthTracker(time.Now)}
	s.m = newServerMetrics()
	if reg != nil {
		if err := s.m.register(reg); err != nil {
			return nil, err
		}
	}
	for _, e := range cfg.Events {
		rt := &eventRuntime{name: e.Name, venue: e.Venue, seatIDs: map[string][]string{}, standIDs: map[string]string{}, seatCounts: map[string]string{}, cookie: "foyer_admission_" + e.Name}
		for _, st := range e.Venue.Stands {
			rt.stands = append(rt.stands, st.ID)
			var ids []string
			for _, row := range st.Rows {
				for _, seat := range row.Seats {
					ids = append(ids, seat.ID)
				}
			}
			rt.seatIDs[st.ID] = ids
			rt.standIDs[st.ID] = st.ID
			rt.seatCounts[st.ID] = strconv.Itoa(len(ids))
		}
		rt.mapJSON, rt.mapGzip, rt.mapETag = e.Venue.StaticMap()
		s.events[e.Name] = rt
		s.order = append(s.order, rt)
	}
	s.server = &fasthttp.Server{
		Handler:                      s.Handler,
		Name:                         "foyer-seating",
		ReadTimeout:                  cfg.ReadTimeout,
		WriteTimeout:                 cfg.WriteTimeout,
		IdleTimeout:                  cfg.IdleTimeout,
		ReadBufferSize:               cfg.MaxHeaderBytes,
		MaxRequestBodySize:           cfg.MaxBodyBytes,
		DisablePreParseMultipartForm: true,
		NoDefaultContentType:         true,
		CloseOnShutdown:              true,
		ErrorHandler: func(ctx *fasthttp.RequestCtx, err error) {
			var small *fasthttp.ErrSmallBuffer
			switch {
			case errors.As(err, &small):
				writeError(ctx, fasthttp.StatusRequestHeaderFieldsTooLarge, "headers_too_large", "request headers are too large")
			case errors.Is(err, fasthttp.ErrBodyTooLarge):
				writeError(ctx, fasthttp.StatusRequestEntityTooLarge, "body_too_large", "request body is too large")
			default:
				writeError(ctx, fasthttp.StatusBadRequest, "bad_request", "request could not be parsed")
			}
		},
	}
	return s, nil
}

// Prepare loads every event's venue into the store and warms the caches, so
// the first fans of an on-sale find everything ready.
func (s *Server) Prepare(ctx context.Context) error {
	for _, rt := range s.order {
		if err := s.store.Prepare(ctx, rt.name, rt.venue.Layouts()); err != nil {
			return fmt.Errorf("seating: preparing %s: %w", rt.name, err)
		}
		if err := s.cache.Warm(ctx, rt.name, rt.stands); err != nil {
			return fmt.Errorf("seating: warming %s: %w", rt.name, err)
		}
	}
	return nil
}

// Serve accepts connections on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error { return s.server.Serve(ln) }

// Shutdown stops accepting connections and waits for in-flight requests.
func (s *Server) Shutdown(ctx context.Context) error { return s.server.ShutdownWithContext(ctx) }

// Handler serves the seating API.
func (s *Server) Handler(ctx *fasthttp.RequestCtx) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("panic in seating handler", "panic", r, "path", string(ctx.Path()))
			writeError(ctx, fasthttp.StatusInternalServerError, "internal", "an internal error occurred; try again")
		}
	}()
	path := ctx.Path()
	if s.cfg.DemoPage && !bytes.HasPrefix(path, []byte(apiPrefix)) && ctx.IsGet() {
		s.serveDemoPage(ctx)
		return
	}
	rest, ok := bytes.CutPrefix(path, []byte(apiPrefix))
	if !ok {
		writeError(ctx, fasthttp.StatusNotFound, "not_found", "no such route")
		return
	}
	if string(rest) == "health" {
		s.serveHealth(ctx)
		return
	}
	// events/{event}/{route…}: at most six segments, split without
	// allocating.
	var segs [6][]byte
	n := 0
	for len(rest) > 0 && n < len(segs) {
		seg := rest
		if i := bytes.IndexByte(rest, '/'); i >= 0 {
			seg, rest = rest[:i], rest[i+1:]
		} else {
			rest = nil
		}
		segs[n] = seg
		n++
	}
	if len(rest) > 0 || n < 3 || string(segs[0]) != "events" {
		writeError(ctx, fasthttp.StatusNotFound, "not_found", "no such route")
		return
	}
	rt, ok := s.events[string(segs[1])]
	if !ok {
		writeError(ctx, fasthttp.StatusNotFound, "unknown_event", "no such event")
		return
	}
	s.route(ctx, rt, segs[2:n])
}

// route serves the event's routes after events/{event}/. Segments are
// compared without allocating; only ids that leave the handler become
// strings.
func (s *Server) route(ctx *fasthttp.RequestCtx, rt *eventRuntime, route [][]byte) {
	if len(route) == 1 && string(route[0]) == "venue" {
		if !ctx.IsGet() && !ctx.IsHead() {
			methodNotAllowed(ctx, "GET, HEAD")
			return
		}
		s.serveVenue(ctx, rt)
		return
	}
	// Every other call needs a valid admission token for this event, checked
	// before any store call.
	visitor, ok := s.authorize(ctx, rt)
	if !ok {
		return
	}
	switch {
	case len(route) == 1 && string(route[0]) == "stands":
		if !ctx.IsGet() && !ctx.IsHead() {
			methodNotAllowed(ctx, "GET, HEAD")
			return
		}
		s.serveStands(ctx, rt)
	case len(route) == 3 && string(route[0]) == "stands" && string(route[2]) == "status":
		if !ctx.IsGet() && !ctx.IsHead() {
			methodNotAllowed(ctx, "GET, HEAD")
			return
		}
		stand, ok := rt.standIDs[string(route[1])]
		if !ok {
			writeError(ctx, fasthttp.StatusNotFound, "unknown_stand", "no such stand")
			return
		}
		s.serveStandStatus(ctx, rt, stand)
	case len(route) == 1 && string(route[0]) == "holds":
		if !ctx.IsPost() {
			methodNotAllowed(ctx, "POST")
			return
		}
		s.serveHold(ctx, rt, visitor)
	case len(route) == 2 && string(route[0]) == "holds":
		if !ctx.IsDelete() {
			methodNotAllowed(ctx, "DELETE")
			return
		}
		s.serveRelease(ctx, rt, visitor, string(route[1]))
	case len(route) == 3 && string(route[0]) == "holds" && (string(route[2]) == "extend" || string(route[2]) == "confirm"):
		if !ctx.IsPost() {
			methodNotAllowed(ctx, "POST")
			return
		}
		if string(route[2]) == "extend" {
			s.serveExtend(ctx, rt, visitor, string(route[1]))
		} else {
			s.serveConfirm(ctx, rt, visitor, string(route[1]))
		}
	default:
		writeError(ctx, fasthttp.StatusNotFound, "not_found", "no such route")
	}
}

// authorize checks the request's admission token for rt's event: the
// Authorization bearer token of apps, else the proxy's cookie.
func (s *Server) authorize(ctx *fasthttp.RequestCtx, rt *eventRuntime) (visitor string, ok bool) {
	var tok []byte
	if auth := ctx.Request.Header.Peek(fasthttp.HeaderAuthorization); len(auth) > 7 && strings.EqualFold(string(auth[:7]), "bearer ") {
		tok = bytes.TrimSpace(auth[7:])
	} else {
		tok = ctx.Request.Header.Cookie(rt.cookie)
	}
	if len(tok) == 0 {
		s.m.rejections.WithLabelValues("missing").Inc()
		writeError(ctx, fasthttp.StatusUnauthorized, "admission_required", "an admission token for this event is required")
		return "", false
	}
	claims, err := s.tokens.Verify(tok, rt.name, time.Now())
	if err != nil {
		s.m.rejections.WithLabelValues(admission.Reason(err)).Inc()
		writeError(ctx, fasthttp.StatusUnauthorized, "invalid_admission", "admission token rejected: "+admission.Reason(err))
		return "", false
	}
	return claims.Visitor, true
}

// serveVenue answers the static map: versioned, cacheable by any CDN, gzip
// when the client takes it.
func (s *Server) serveVenue(ctx *fasthttp.RequestCtx, rt *eventRuntime) {
	h := &ctx.Response.Header
	h.Set(fasthttp.HeaderETag, rt.mapETag)
	h.Set(fasthttp.HeaderVary, "Accept-Encoding")
	// A URL that names the version never changes; the bare URL may.
	if v := ctx.QueryArgs().Peek("v"); len(v) > 0 && `"`+string(v)+`"` == rt.mapETag {
		h.Set(fasthttp.HeaderCacheControl, "public, max-age=31536000, immutable")
	} else {
		h.Set(fasthttp.HeaderCacheControl, "public, max-age=60")
	}
	if string(ctx.Request.Header.Peek(fasthttp.HeaderIfNoneMatch)) == rt.mapETag {
		ctx.SetStatusCode(fasthttp.StatusNotModified)
		return
	}
	h.SetContentType("application/json")
	if ctx.Request.Header.HasAcceptEncoding("gzip") {
		h.Set(fasthttp.HeaderContentEncoding, "gzip")
		ctx.SetBody(rt.mapGzip)
		return
	}
	ctx.SetBody(rt.mapJSON)
}

// standAvailability is one stand in the stands document.
type standAvailability struct {
	ID      string         `json:"id"`
	Version uint64         `json:"version"`
	Stale   bool           `json:"stale,omitempty"`
	Tiers   []tierCountDoc `json:"tiers"`
}

type tierCountDoc struct {
	Tier    string `json:"tier"`
	Free    int    `json:"free"`
	Held    int    `json:"held"`
	Sold    int    `json:"sold"`
	Blocked int    `json:"blocked"`
}

// serveStands answers availability per stand and tier from the stand cache.
func (s *Server) serveStands(ctx *fasthttp.RequestCtx, rt *eventRuntime) {
	c, cancel := context.WithTimeout(context.Background(), s.cfg.StoreTimeout)
	defer cancel()
	out := struct {
		Event  string              `json:"event"`
		Stands []standAvailability `json:"stands"`
	}{Event: rt.name}
	for _, st := range rt.stands {
		view, err := s.cache.Get(c, rt.name, st)
		if err != nil {
			s.storeError(ctx, err)
			return
		}
		a := standAvailability{ID: st, Version: view.Snapshot.Version, Stale: view.Stale}
		for i, tc := range view.Snapshot.Tiers {
			a.Tiers = append(a.Tiers, tierCountDoc{Tier: rt.tierID(i), Free: tc.Free, Held: tc.Held, Sold: tc.Sold, Blocked: tc.Blocked})
		}
		out.Stands = append(out.Stands, a)
	}
	writeJSON(ctx, fasthttp.StatusOK, out)
}

// serveStandStatus answers a stand's packed status (2 bits a seat in static
// order) with its version as ETag, or the changes since ?since=V.
func (s *Server) serveStandStatus(ctx *fasthttp.RequestCtx, rt *eventRuntime, stand string) {
	c, cancel := context.WithTimeout(context.Background(), s.cfg.StoreTimeout)
	defer cancel()
	if since := ctx.QueryArgs().Peek("since"); len(since) > 0 {
		v, err := strconv.ParseUint(string(since), 10, 64)
		if err != nil {
			writeError(ctx, fasthttp.StatusBadRequest, "invalid_since", "since must be a stand version")
			return
		}
		changes, version, ok, err := s.store.Changes(c, rt.name, stand, v)
		if err != nil {
			s.storeError(ctx, err)
			return
		}
		if !ok {
			// Too old for the change log: the client reloads the snapshot.
			writeError(ctx, fasthttp.StatusGone, "reload", "the version is too old for a delta; load the stand status again")
			return
		}
		ctx.Response.Header.SetContentType("application/json")
		ctx.Response.Header.Set(fasthttp.HeaderCacheControl, "no-cache")
		ctx.SetBody(AppendDelta(nil, v, version, changes))
		return
	}
	view, err := s.cache.Get(c, rt.name, stand)
	if err != nil {
		s.storeError(ctx, err)
		return
	}
	var buf [24]byte
	etag := append(strconv.AppendUint(append(buf[:0], '"'), view.Snapshot.Version, 10), '"')
	h := &ctx.Response.Header
	h.SetBytesV(fasthttp.HeaderETag, etag)
	h.Set(fasthttp.HeaderCacheControl, "no-cache")
	h.Set(fasthttp.HeaderVary, "Accept-Encoding")
	if view.Stale {
		h.Set("Foyer-Stale", "true")
	}
	if bytes.Equal(ctx.Request.Header.Peek(fasthttp.HeaderIfNoneMatch), etag) {
		ctx.SetStatusCode(fasthttp.StatusNotModified)
		return
	}
	h.SetContentType("application/octet-stream")
	h.Set("Foyer-Seats", rt.seatCounts[stand])
	if ctx.Request.Header.HasAcceptEncoding("gzip") {
		h.Set(fasthttp.HeaderContentEncoding, "gzip")
		ctx.SetBody(fasthttp.AppendGzipBytes(nil, view.Snapshot.Status))
		return
	}
	ctx.SetBody(view.Snapshot.Status)
}

// holdBody is the body of POST /holds: seats by id, or best available.
type holdBody struct {
	Seats    []string `json:"seats"`
	Stand    string   `json:"stand"`
	Tier     string   `json:"tier"`
	Quantity int      `json:"quantity"`
	Key      string   `json:"idempotency_key"`
}

// holdDoc is a hold as the API shows it.
type holdDoc struct {
	HoldID    string   `json:"hold_id"`
	Stand     string   `json:"stand"`
	Seats     []string `json:"seats"`
	State     string   `json:"state"`
	ExpiresAt string   `json:"expires_at"`
	Version   uint64   `json:"version"`
}

// tierID is the id of tier number i.
func (rt *eventRuntime) tierID(i int) string {
	if i >= 0 && i < len(rt.venue.Tiers) {
		return rt.venue.Tiers[i].ID
	}
	return strconv.Itoa(i)
}

// tierIndex is the number of the tier with the given id.
func (rt *eventRuntime) tierIndex(id string) (int, bool) {
	for i, t := range rt.venue.Tiers {
		if t.ID == id {
			return i, true
		}
	}
	return 0, false
}

func (rt *eventRuntime) holdDoc(h Hold) holdDoc {
	ids := rt.seatIDs[h.Stand]
	d := holdDoc{HoldID: h.ID, Stand: h.Stand, ExpiresAt: h.ExpiresAt.UTC().Format(time.RFC3339Nano), Version: h.Version, State: "held"}
	if h.State == HoldConfirmed {
		d.State = "sold"
	}
	for _, i := range h.Seats {
		if i >= 0 && i < len(ids) {
			d.Seats = append(d.Seats, ids[i])
		}
	}
	return d
}

// serveHold takes seats: by id (all in one stand, all or nothing) or best
// available. The seat-level cache may reject seats known taken before the
// store is asked; it never grants.
func (s *Server) serveHold(ctx *fasthttp.RequestCtx, rt *eventRuntime, visitor string) {
	var body holdBody
	dec := json.NewDecoder(bytes.NewReader(ctx.PostBody()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		writeError(ctx, fasthttp.StatusBadRequest, "invalid_body", `body must be {"seats": [ids]} or {"stand", "tier", "quantity"}: `+err.Error())
		return
	}
	req := HoldRequest{Owner: visitor, TTL: s.cfg.HoldTTL, MaxSeats: s.cfg.MaxSeatsPerVisitor, Key: body.Key}
	var stand string
	switch {
	case len(body.Seats) > 0 && (body.Stand != "" || body.Quantity != 0):
		writeError(ctx, fasthttp.StatusBadRequest, "invalid_body", "give seats, or stand, tier and quantity, not both")
		return
	case len(body.Seats) > 0:
		if len(body.Seats) > s.cfg.MaxSeatsPerVisitor {
			writeError(ctx, fasthttp.StatusBadRequest, "too_many_seats", fmt.Sprintf("at most %d seats per visitor", s.cfg.MaxSeatsPerVisitor))
			return
		}
		for _, id := range body.Seats {
			st, idx, ok := rt.venue.Seat(id)
			if !ok {
				writeError(ctx, fasthttp.StatusBadRequest, "unknown_seat", fmt.Sprintf("seat %q is not in this venue", id))
				return
			}
			if stand != "" && st != stand {
				writeError(ctx, fasthttp.StatusBadRequest, "several_stands", "all seats of one hold must be in one stand")
				return
			}
			stand = st
			req.Seats = append(req.Seats, idx)
		}
		if taken := s.cache.KnownTaken(rt.name, stand, req.Seats); len(taken) > 0 {
			s.m.holds.WithLabelValues("conflict_cached").Inc()
			s.writeConflict(ctx, rt, stand, &ConflictError{Taken: taken})
			return
		}
	default:
		if _, ok := rt.seatIDs[body.Stand]; !ok {
			writeError(ctx, fasthttp.StatusBadRequest, "unknown_stand", fmt.Sprintf("stand %q is not in this venue", body.Stand))
			return
		}
		tier, ok := rt.tierIndex(body.Tier)
		if !ok {
			writeError(ctx, fasthttp.StatusBadRequest, "unknown_tier", fmt.Sprintf("tier %q is not in this venue", body.Tier))
			return
		}
		if body.Quantity < 1 || body.Quantity > s.cfg.MaxSeatsPerVisitor {
			writeError(ctx, fasthttp.StatusBadRequest, "invalid_quantity", fmt.Sprintf("quantity must be between 1 and %d", s.cfg.MaxSeatsPerVisitor))
			return
		}
		stand, req.Tier, req.Quantity = body.Stand, tier, body.Quantity
	}
	if n := s.holding.Add(1); s.cfg.MaxInflightHolds > 0 && n > int64(s.cfg.MaxInflightHolds) {
		s.holding.Add(-1)
		s.health.observeShed()
		s.m.holds.WithLabelValues("overloaded").Inc()
		writeError(ctx, fasthttp.StatusServiceUnavailable, "overloaded", "too many holds are being decided; retry in a second")
		ctx.Response.Header.Set(fasthttp.HeaderRetryAfter, "1")
		return
	}
	defer s.holding.Add(-1)
	c, cancel := context.WithTimeout(context.Background(), s.cfg.StoreTimeout)
	defer cancel()
	start := time.Now()
	h, err := s.store.Hold(c, rt.name, stand, req)
	s.health.observe(time.Since(start), err)
	if err != nil {
		var ce *ConflictError
		switch {
		case errors.As(err, &ce):
			s.m.holds.WithLabelValues("conflict").Inc()
			s.cache.NoteTaken(rt.name, stand, ce.Taken)
			s.writeConflict(ctx, rt, stand, ce)
		case errors.Is(err, ErrNoSeats):
			s.m.holds.WithLabelValues("no_seats").Inc()
			writeError(ctx, fasthttp.StatusConflict, "no_seats", "no block of seats of that size is free in that stand and tier")
		case errors.Is(err, ErrCapExceeded):
			s.m.holds.WithLabelValues("cap").Inc()
			writeError(ctx, fasthttp.StatusConflict, "too_many_seats", fmt.Sprintf("you already hold seats; at most %d per visitor", s.cfg.MaxSeatsPerVisitor))
		default:
			s.m.holds.WithLabelValues("error").Inc()
			s.storeError(ctx, err)
		}
		return
	}
	s.m.holds.WithLabelValues("held").Inc()
	writeJSON(ctx, fasthttp.StatusCreated, rt.holdDoc(h))
}

func (s *Server) writeConflict(ctx *fasthttp.RequestCtx, rt *eventRuntime, stand string, ce *ConflictError) {
	ids := rt.seatIDs[stand]
	taken := make([]string, 0, len(ce.Taken))
	for _, i := range ce.Taken {
		if i >= 0 && i < len(ids) {
			taken = append(taken, ids[i])
		}
	}
	writeJSON(ctx, fasthttp.StatusConflict, map[string]any{
		"error":   map[string]string{"code": "seats_taken", "message": "some of the seats are no longer free"},
		"taken":   taken,
		"version": ce.Version,
	})
}

func (s *Server) serveExtend(ctx *fasthttp.RequestCtx, rt *eventRuntime, visitor, holdID string) {
	c, cancel := context.WithTimeout(context.Background(), s.cfg.StoreTimeout)
	defer cancel()
	h, err := s.store.Extend(c, rt.name, holdID, visitor, s.cfg.HoldTTL, s.cfg.MaxHoldTotal)
	if err != nil {
		s.holdError(ctx, err)
		return
	}
	writeJSON(ctx, fasthttp.StatusOK, rt.holdDoc(h))
}

// serveConfirm sells the hold's seats. Confirming twice answers the same
// sale, so a client may retry with its Idempotency-Key after a timeout.
func (s *Server) serveConfirm(ctx *fasthttp.RequestCtx, rt *eventRuntime, visitor, holdID string) {
	c, cancel := context.WithTimeout(context.Background(), s.cfg.StoreTimeout)
	defer cancel()
	h, err := s.store.Confirm(c, rt.name, holdID, visitor)
	if err != nil {
		s.holdError(ctx, err)
		return
	}
	s.m.confirms.Inc()
	s.cache.NoteTaken(rt.name, h.Stand, h.Seats)
	if key := ctx.Request.Header.Peek("Idempotency-Key"); len(key) > 0 {
		ctx.Response.Header.SetBytesV("Idempotency-Key", key)
	}
	writeJSON(ctx, fasthttp.StatusOK, rt.holdDoc(h))
}

func (s *Server) serveRelease(ctx *fasthttp.RequestCtx, rt *eventRuntime, visitor, holdID string) {
	c, cancel := context.WithTimeout(context.Background(), s.cfg.StoreTimeout)
	defer cancel()
	// Releasing a hold that is gone (expired, released, never was) is done.
	if _, err := s.store.Release(c, rt.name, holdID, visitor); err != nil && !errors.Is(err, ErrHoldNotFound) {
		s.holdError(ctx, err)
		return
	}
	ctx.SetStatusCode(fasthttp.StatusNoContent)
}

// holdError answers a failed extend, confirm or release.
func (s *Server) holdError(ctx *fasthttp.RequestCtx, err error) {
	switch {
	case errors.Is(err, ErrHoldNotFound):
		writeError(ctx, fasthttp.StatusNotFound, "hold_not_found", "no such hold; it may have expired")
	case errors.Is(err, ErrExpired):
		writeError(ctx, fasthttp.StatusGone, "hold_expired", "the hold expired and its seats were released")
	case errors.Is(err, ErrNotOwner):
		writeError(ctx, fasthttp.StatusForbidden, "not_owner", "the hold belongs to another visitor")
	case errors.Is(err, ErrInvalid):
		writeError(ctx, fasthttp.StatusConflict, "invalid_state", err.Error())
	default:
		s.storeError(ctx, err)
	}
}

// storeError answers a store failure: retryable 503, never a 500.
func (s *Server) storeError(ctx *fasthttp.RequestCtx, err error) {
	s.log.Warn("seating store error", "err", err)
	switch {
	case errors.Is(err, ErrNotPrepared):
		writeError(ctx, fasthttp.StatusServiceUnavailable, "not_prepared", "the venue is not loaded yet; retry shortly")
	case errors.Is(err, ErrInvalid):
		writeError(ctx, fasthttp.StatusBadRequest, "invalid_request", err.Error())
	default:
		writeError(ctx, fasthttp.StatusServiceUnavailable, "store_unavailable", "seats cannot be changed right now; retry in a few seconds")
	}
	ctx.Response.Header.Set(fasthttp.HeaderRetryAfter, "2")
}

func writeJSON(ctx *fasthttp.RequestCtx, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(ctx, fasthttp.StatusInternalServerError, "internal", "could not encode the answer")
		return
	}
	ctx.SetStatusCode(status)
	ctx.Response.Header.SetContentType("application/json")
	ctx.Response.Header.Set(fasthttp.HeaderCacheControl, "no-store")
	ctx.SetBody(b)
}

func writeError(ctx *fasthttp.RequestCtx, status int, code, message string) {
	ctx.Response.Reset()
	b, _ := json.Marshal(map[string]map[string]string{"error": {"code": code, "message": message}})
	ctx.SetStatusCode(status)
	ctx.Response.Header.SetContentType("application/json")
	ctx.Response.Header.Set(fasthttp.HeaderCacheControl, "no-store")
	ctx.SetBody(b)
}

func methodNotAllowed(ctx *fasthttp.RequestCtx, allow string) {
	writeError(ctx, fasthttp.StatusMethodNotAllowed, "method_not_allowed", "use "+allow)
	ctx.Response.Header.Set(fasthttp.HeaderAllow, allow)
}

// serverMetrics are the seating API's metrics.
type serverMetrics struct {
	holds      *prometheus.CounterVec
	confirms   prometheus.Counter
	rejections *prometheus.CounterVec
}

func newServerMetrics() *serverMetrics {
	return &serverMetrics{
		holds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "foyer_seating_holds_total", Help: "Hold requests by result: held, conflict, conflict_cached (rejected by the seat-level cache), no_seats, cap, overloaded (refused by max_inflight_holds), error.",
		}, []string{"result"}),
		confirms: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "foyer_seating_confirmations_total", Help: "Holds confirmed (sold), repeats included.",
		}),
		rejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "foyer_seating_token_rejections_total", Help: "Requests rejected for a missing or invalid admission token, by reason.",
		}, []string{"reason"}),
	}
}

func (m *serverMetrics) register(r prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.holds, m.confirms, m.rejections} {
		if err := r.Register(c); err != nil {
			return err
		}
	}
	return nil
}
