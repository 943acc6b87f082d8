package proxy

import (
	"bytes"
	"crypto/rand"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"

	"github.com/foyerhq/foyer/admission"
	"github.com/foyerhq/foyer/internal/redistest"
	"github.com/foyerhq/foyer/queue"
)

// hotProxy is a proxy driven without a network: requests go straight to
// Handler; its origin listens in memory.
type hotProxy struct {
	p       *Proxy
	tickets *queue.TicketSigner
	tokens  *admission.Tokens
}

func newHotProxy(tb testing.TB, store queue.Store, rate float64) *hotProxy {
	tb.Helper()
	key, _ := admission.GenerateKey(rand.Reader)
	ks, _ := admission.NewKeySet(key)
	tokens, _ := admission.NewTokens(admission.Config{}, ks)
	tickets, _ := queue.NewTicketSigner(queue.TicketKey{ID: "t1", Secret: bytes.Repeat([]byte("s"), 32)})
	p, err := New(Config{Events: []Event{{Name: "show", Origin: "http://origin.internal", RatePerSecond: rate}}},
		Deps{Store: store, Tickets: tickets, Tokens: tokens, JWKS: ks.JWKS()})
	if err != nil {
		tb.Fatal(err)
	}
	ln := fasthttputil.NewInmemoryListener()
	origin := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("ok") }}
	go origin.Serve(ln)
	tb.Cleanup(func() { ln.Close() })
	p.byName["show"].origin.Dial = func(string) (net.Conn, error) { return ln.Dial() }
	return &hotProxy{p: p, tickets: tickets, tokens: tokens}
}

// waitingTicket joins a visitor and returns their ticket.
func (h *hotProxy) waitingTicket(tb testing.TB) string {
	tb.Helper()
	var ctx fasthttp.RequestCtx
	ctx.Request.Header.SetMethod("POST")
	ctx.Request.SetRequestURI("/_foyer/v1/events/show/join")
	h.p.Handler(&ctx)
	if ctx.Response.StatusCode() != 200 {
		tb.Fatalf("join: %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
	}
	return string(ctx.Response.Header.PeekCookie(cookieTicketPrefix + "show"))
}

func statusRequest(ctx *fasthttp.RequestCtx, ticket []byte) {
	ctx.Request.Reset()
	ctx.Response.Reset()
	ctx.Request.Header.SetMethod("GET")
	ctx.Request.SetRequestURI("/_foyer/v1/events/show/status")
	ctx.Request.Header.Set("Accept", "application/json")
	ctx.Request.Header.SetBytesV(headerTicket, ticket)
}

func TestStatusPollAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts mean nothing under the race detector")
	}
	h := newHotProxy(t, queue.NewMemory(nil), 0)
	c := fasthttp.AcquireCookie()
	c.Parse(h.waitingTicket(t))
	ticket := append([]byte(nil), c.Value()...)
	var ctx fasthttp.RequestCtx
	allocs := testing.AllocsPerRun(200, func() {
		statusRequest(&ctx, ticket)
		h.p.Handler(&ctx)
	})
	if ctx.Response.StatusCode() != 200 || !bytes.Contains(ctx.Response.Body(), []byte(`"position":1`)) {
		t.Fatalf("poll: %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
	}
	// The ticket check, the cache read and the JSON are allocation-free; what
	// remains is bookkeeping of the request itself.
	if allocs > 3 {
		t.Errorf("a status poll allocates %v times, want at most 3", allocs)
	}
}

func TestForwardAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts mean nothing under the race detector")
	}
	h := newHotProxy(t, queue.NewMemory(nil), 0)
	tok, _, _ := h.tokens.Issue("visitor-1", "show", time.Now())
	var ctx fasthttp.RequestCtx
	allocs := testing.AllocsPerRun(200, func() {
		forwardRequest(&ctx, tok)
		h.p.Handler(&ctx)
	})
	if string(ctx.Response.Body()) != "ok" {
		t.Fatalf("forward: %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
	}
	if allocs > 3 {
		t.Errorf("forwarding an admitted request allocates %v times, want at most 3", allocs)
	}
}

func forwardRequest(ctx *fasthttp.RequestCtx, tok string) {
	ctx.Request.Reset()
	ctx.Response.Reset()
	ctx.Request.Header.SetMethod("GET")
	ctx.Request.SetRequestURI("/seats/A1")
	ctx.Request.Header.Set("Authorization", "Bearer "+tok)
}

// TestStatusPollsCostNoStoreCalls polls a line kept in a real Redis and
// counts the commands Redis ran: only the background refresh, never a poll.
func TestStatusPollsCostNoStoreCalls(t *testing.T) {
	srv := redistest.Start(t)
	store := queue.NewRedis(srv.Client(t), queue.RedisOptions{})
	h := newHotProxy(t, store, 0)
	c := fasthttp.AcquireCookie()
	c.Parse(h.waitingTicket(t))
	ticket := append([]byte(nil), c.Value()...)
	total := func() int64 {
		var n int64
		for cmd, calls := range srv.CommandStats(t) {
			// Reading the stats opens a connection: INFO, HELLO and CLIENT.
			if cmd != "info" && cmd != "hello" && !strings.HasPrefix(cmd, "client") {
				n += calls
			}
		}
		return n
	}
	before := total()
	var ctx fasthttp.RequestCtx
	for range 5000 {
		statusRequest(&ctx, ticket)
		h.p.Handler(&ctx)
		if ctx.Response.StatusCode() != 200 {
			t.Fatalf("poll: %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
		}
	}
	if got := total() - before; got != 0 {
		t.Logf("commands: %v", srv.CommandStats(t))
		t.Errorf("5000 status polls ran %d Redis commands, want 0", got)
	}
}

func BenchmarkStatusPoll(b *testing.B) {
	h := newHotProxy(b, queue.NewMemory(nil), 0)
	c := fasthttp.AcquireCookie()
	c.Parse(h.waitingTicket(b))
	ticket := append([]byte(nil), c.Value()...)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var ctx fasthttp.RequestCtx
		for pb.Next() {
			statusRequest(&ctx, ticket)
			h.p.Handler(&ctx)
		}
	})
}

func BenchmarkForwardAdmitted(b *testing.B) {
	h := newHotProxy(b, queue.NewMemory(nil), 0)
	tok, _, _ := h.tokens.Issue("visitor-1", "show", time.Now())
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var ctx fasthttp.RequestCtx
		for pb.Next() {
			forwardRequest(&ctx, tok)
			h.p.Handler(&ctx)
		}
	})
}

func BenchmarkJoinMemory(b *testing.B) {
	h := newHotProxy(b, queue.NewMemory(nil), 0)
	b.ReportAllocs()
	var ctx fasthttp.RequestCtx
	for b.Loop() {
		ctx.Request.Reset()
		ctx.Response.Reset()
		ctx.Request.Header.SetMethod("POST")
		ctx.Request.SetRequestURI("/_foyer/v1/events/show/join")
		h.p.Handler(&ctx)
	}
}

func BenchmarkJoinRedis(b *testing.B) {
	srv := redistest.Start(b)
	h := newHotProxy(b, queue.NewRedis(srv.Client(b), queue.RedisOptions{}), 0)
	b.ReportAllocs()
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		var ctx fasthttp.RequestCtx
		for pb.Next() {
			ctx.Request.Reset()
			ctx.Response.Reset()
			ctx.Request.Header.SetMethod("POST")
			ctx.Request.SetRequestURI("/_foyer/v1/events/show/join")
			h.p.Handler(&ctx)
			if ctx.Response.StatusCode() != 200 {
				b.Fatalf("join: %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
			}
		}
	})
}
