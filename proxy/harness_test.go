package proxy

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/valyala/fasthttp"

	"github.com/foyerhq/foyer/admission"
	"github.com/foyerhq/foyer/queue"
)

// testOrigin is a real origin server that records what reached it.
type testOrigin struct {
	addr string
	srv  *fasthttp.Server

	mu       sync.Mutex // guards requests
	requests []originRequest
}

type originRequest struct {
	path    string
	headers map[string]string
}

func startOrigin(t *testing.T, handle func(ctx *fasthttp.RequestCtx)) *testOrigin {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := &testOrigin{addr: ln.Addr().String()}
	o.srv = &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		r := originRequest{path: string(ctx.Path()), headers: map[string]string{}}
		for k, v := range ctx.Request.Header.All() {
			r.headers[string(k)] = string(v)
		}
		o.mu.Lock()
		o.requests = append(o.requests, r)
		o.mu.Unlock()
		if handle != nil {
			handle(ctx)
			return
		}
		ctx.Response.Header.Set("Connection", "X-Origin-Hop")
		ctx.Response.Header.Set("X-Origin-Hop", "secret")
		ctx.Response.Header.Set("Keep-Alive", "timeout=5")
		ctx.SetBodyString("origin:" + string(ctx.Path()))
	}}
	go o.srv.Serve(ln)
	t.Cleanup(func() { o.srv.Shutdown() })
	return o
}

func (o *testOrigin) seen() []originRequest {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]originRequest(nil), o.requests...)
}

// harness is a running proxy on a real loopback listener with a memory store.
type harness struct {
	t       *testing.T
	p       *Proxy
	store   queue.Store
	tickets *queue.TicketSigner
	tokens  *admission.Tokens
	keys    *admission.KeySet
	reg     *prometheus.Registry
	origin  *testOrigin
	addr    string
	client  *fasthttp.HostClient
}

type harnessOpt func(*Config, *Deps)

func newHarness(t *testing.T, opts ...harnessOpt) *harness {
	t.Helper()
	h := &harness{t: t, origin: startOrigin(t, nil)}
	key, err := admission.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if h.keys, err = admission.NewKeySet(key); err != nil {
		t.Fatal(err)
	}
	if h.tokens, err = admission.NewTokens(admission.Config{}, h.keys); err != nil {
		t.Fatal(err)
	}
	if h.tickets, err = queue.NewTicketSigner(queue.TicketKey{ID: "t1", Secret: bytes.Repeat([]byte("s"), 32)}); err != nil {
		t.Fatal(err)
	}
	h.reg = prometheus.NewRegistry()
	cfg := Config{
		RefreshInterval: 20 * time.Millisecond,
		Events: []Event{{
			Name: "show", PathPrefix: "/", Origin: "http://" + h.origin.addr, RatePerSecond: 1000,
		}},
	}
	d := Deps{Store: queue.NewMemory(nil), Tickets: h.tickets, Tokens: h.tokens, JWKS: h.keys.JWKS(), Registerer: h.reg}
	for _, o := range opts {
		o(&cfg, &d)
	}
	h.store = d.Store
	if h.p, err = New(cfg, d); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.addr = ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan struct{})
	go func() { h.p.Run(ctx); close(runDone) }()
	go h.p.Serve(ln)
	t.Cleanup(func() {
		cancel()
		<-runDone
		_ = h.p.Shutdown(context.Background())
	})
	h.client = &fasthttp.HostClient{Addr: h.addr, ReadBufferSize: 64 << 10}
	return h
}

// do sends a request and returns status, headers and body.
type reply struct {
	status  int
	body    []byte
	headers map[string][]string
}

func (r reply) header(name string) string {
	if v := r.headers[strings.ToLower(name)]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func (r reply) cookie(name string) string {
	for _, sc := range r.headers["set-cookie"] {
		if k, rest, ok := strings.Cut(sc, "="); ok && k == name {
			v, _, _ := strings.Cut(rest, ";")
			return v
		}
	}
	return ""
}

func (r reply) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body is not JSON: %v: %q", err, r.body)
	}
	return m
}

func (h *harness) do(method, uri string, headers ...string) reply {
	h.t.Helper()
	return h.doBody(method, uri, "", headers...)
}

func (h *harness) doBody(method, uri, body string, headers ...string) reply {
	h.t.Helper()
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod(method)
	req.SetRequestURI("http://" + h.addr + uri)
	for i := 0; i+1 < len(headers); i += 2 {
		if strings.EqualFold(headers[i], "Host") {
			req.Header.SetHost(headers[i+1])
			continue
		}
		req.Header.Set(headers[i], headers[i+1])
	}
	if body != "" {
		req.SetBodyString(body)
	}
	if err := h.client.DoTimeout(req, resp, 5*time.Second); err != nil {
		h.t.Fatalf("%s %s: %v", method, uri, err)
	}
	r := reply{status: resp.StatusCode(), body: append([]byte(nil), resp.Body()...), headers: map[string][]string{}}
	for k, v := range resp.Header.All() {
		key := strings.ToLower(string(k))
		r.headers[key] = append(r.headers[key], string(v))
	}
	return r
}

// admitted joins as a new visitor and polls until admitted, returning the
// ticket, the admission token and the final status document.
func (h *harness) admitted(event string) (ticket, token string, doc map[string]any) {
	h.t.Helper()
	r := h.do("POST", "/_foyer/v1/events/"+event+"/join", "Accept", "application/json")
	if r.status != 200 {
		h.t.Fatalf("join: got status %d, want 200: %s", r.status, r.body)
	}
	doc = r.json(h.t)
	ticket, _ = doc["ticket"].(string)
	deadline := time.Now().Add(5 * time.Second)
	for doc["state"] != "admitted" {
		if time.Now().After(deadline) {
			h.t.Fatalf("not admitted within 5s: %v", doc)
		}
		h.waitRefresh(event)
		doc = h.do("GET", "/_foyer/v1/events/"+event+"/status", "Foyer-Ticket", ticket).json(h.t)
	}
	token, _ = doc["admission_token"].(string)
	return ticket, token, doc
}

// waitRefresh waits until the proxy's cache of event's line has been
// refreshed at least once more.
func (h *harness) waitRefresh(event string) {
	h.t.Helper()
	_, before, _ := h.p.Event(event)
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, now, _ := h.p.Event(event)
		if now.At.After(before.At) {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatal("the line cache was not refreshed within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// counter returns the value of a counter with the given labels (0 if absent).
func (h *harness) counter(name string, labels map[string]string) float64 {
	h.t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		h.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue metric
				}
			}
			return metricValue(m)
		}
	}
	return 0
}

func metricValue(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	return 0
}

// switchStore delegates to a store that a test can swap, to take a real
// store away mid-test (a Redis client whose server is gone).
type switchStore struct {
	queue.Store
	mu sync.Mutex // guards Store after the proxy starts
}

func (s *switchStore) set(st queue.Store) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Store = st
}

func (s *switchStore) current() queue.Store {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.Store
}

func (s *switchStore) Join(ctx context.Context, event, visitor string, seed queue.Seed) (queue.Entry, error) {
	return s.current().Join(ctx, event, visitor, seed)
}

func (s *switchStore) Advance(ctx context.Context, event string, seed queue.Seed) (queue.State, error) {
	return s.current().Advance(ctx, event, seed)
}

func (s *switchStore) SetControl(ctx context.Context, event string, c queue.Control, seed queue.Seed) (queue.State, error) {
	return s.current().SetControl(ctx, event, c, seed)
}
