package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"math"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/foyerhq/foyer/admission"
	"github.com/foyerhq/foyer/internal/testclock"
	"github.com/foyerhq/foyer/proxy"
	"github.com/foyerhq/foyer/queue"
)

// clockedProxy is a proxy on a memory store, both timed by a test clock.
type clockedProxy struct {
	p      *proxy.Proxy
	store  *queue.Memory
	client *fasthttp.HostClient
}

// testSigners are a fresh key set, the admission tokens it signs and a
// ticket signer, for proxies and seating services built in a test.
type testSigners struct {
	keys    *admission.KeySet
	tokens  *admission.Tokens
	tickets *queue.TicketSigner
}

func newTestSigners(t *testing.T) testSigners {
	t.Helper()
	key, err := admission.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var s testSigners
	if s.keys, err = admission.NewKeySet(key); err != nil {
		t.Fatal(err)
	}
	if s.tokens, err = admission.NewTokens(admission.Config{}, s.keys); err != nil {
		t.Fatal(err)
	}
	if s.tickets, err = queue.NewTicketSigner(queue.TicketKey{ID: "t1", Secret: bytes.Repeat([]byte("k"), 32)}); err != nil {
		t.Fatal(err)
	}
	return s
}

func startClockedProxy(t *testing.T, clock *testclock.Clock, ev proxy.Event) *clockedProxy {
	t.Helper()
	sg := newTestSigners(t)
	tickets, tokens, ks := sg.tickets, sg.tokens, sg.keys
	store := queue.NewMemory(clock.Now)
	p, err := proxy.New(proxy.Config{RefreshInterval: 20 * time.Millisecond, Events: []proxy.Event{ev}},
		proxy.Deps{Store: store, Tickets: tickets, Tokens: tokens, JWKS: ks.JWKS(), Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	go p.Serve(ln)
	t.Cleanup(func() {
		cancel()
		<-done
		_ = p.Shutdown(context.Background())
	})
	return &clockedProxy{p: p, store: store, client: &fasthttp.HostClient{Addr: ln.Addr().String(), MaxConns: 64}}
}

// call sends a JSON request and decodes the answer.
func (c *clockedProxy) call(t *testing.T, method, path, ticket string) (int, map[string]any) {
	t.Helper()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod(method)
	req.SetRequestURI("http://" + c.client.Addr + path)
	req.Header.Set("Accept", "application/json")
	if ticket != "" {
		req.Header.Set("Foyer-Ticket", ticket)
	}
	if err := c.client.DoTimeout(req, resp, 10*time.Second); err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	var doc map[string]any
	if resp.StatusCode() == 200 && method != "HEAD" {
		if err := json.Unmarshal(resp.Body(), &doc); err != nil {
			t.Fatalf("%s %s: %v: %q", method, path, err, resp.Body())
		}
	}
	return resp.StatusCode(), doc
}

// waitLine waits until the proxy's view of the line satisfies ok.
func (c *clockedProxy) waitLine(t *testing.T, name string, ok func(queue.State) bool) queue.State {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, st, _ := c.p.Event(name)
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("line never reached the expected state; last %+v", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// chiSquareCritical approximates the χ² value with k degrees of freedom
// exceeded with probability 1e-6 (Wilson–Hilferty): a test using it fails
// by chance once in a million runs.
func chiSquareCritical(k float64) float64 {
	const z = 4.753 // upper 1e-6 quantile of the standard normal
	a := 2 / (9 * k)
	return k * math.Pow(1-a+z*math.Sqrt(a), 3)
}

// TestPrequeueDraw is the pre-queue of the issue with an injected clock:
// 10,000 fans join the pre-queue, 5,000 more after the start. The drawn
// order does not depend on when a fan joined the pre-queue (χ² test of
// independence of join-order and drawn-rank deciles); every post-start
// arrival comes after every pre-queue fan, in arrival order, and is
// admitted after them; the seed and then the membership are committed to
// before the start, the published draw matches both commitments, passes
// foyer lottery verify, and a tampered one does not.
func TestPrequeueDraw(t *testing.T) {
	const pre, post, workers = 10000, 5000, 8
	start := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	clock := testclock.New(start.Add(-20 * time.Minute))
	c := startClockedProxy(t, clock, proxy.Event{
		Name: "finals", Origin: "http://127.0.0.1:9", RatePerSecond: 0,
		PrequeueOpensAt: start.Add(-15 * time.Minute), SaleStartsAt: start,
	})
	const base = "/_foyer/v1/events/finals/"

	// Not open yet: no place is taken, the opening time is given.
	if status, doc := c.call(t, "POST", base+"join", ""); status != 200 || doc["state"] != "closed" || doc["opens_at"] != "2026-12-01T09:45:00Z" || doc["ticket"] != nil {
		t.Fatalf("before the pre-queue opens: got %d %v, want state closed with opens_at and no ticket", status, doc)
	}
	clock.Set(start.Add(-10 * time.Minute))
	// The seed is committed to as soon as the pre-queue is open.
	var commitment map[string]any
	for deadline := time.Now().Add(5 * time.Second); commitment == nil; {
		if status, doc := c.call(t, "GET", base+"draw", ""); status == 200 {
			commitment = doc
		} else if time.Now().After(deadline) {
			t.Fatalf("no seed commitment published: status %d", status)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if commitment["state"] != "seed_committed" || len(commitment["seed_hash"].(string)) != 64 || commitment["prequeue_closes_at"] != "2026-12-01T09:59:30Z" {
		t.Fatalf("seed commitment: got %v, want state seed_committed, a seed hash and the closing time", commitment)
	}

	// 10,000 fans join the pre-queue; their join order is recorded.
	preTickets, members := make([]string, pre), make([]string, pre)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < pre; i += workers {
				status, doc := c.call(t, "POST", base+"join", "")
				if status != 200 || doc["state"] != "prequeue" || doc["sale_starts_at"] != "2026-12-01T10:00:00Z" || doc["position"] != nil {
					t.Errorf("pre-queue join: got %d %v, want state prequeue with sale_starts_at and no position", status, doc)
					return
				}
				preTickets[i] = doc["ticket"].(string)
				members[i], _ = doc["member"].(string)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	c.waitLine(t, "finals", func(s queue.State) bool { return s.Members == pre })

	// 30 s before the start the pre-queue closes: the commitment to its
	// membership is published before the draw.
	clock.Set(start.Add(-10 * time.Second))
	var membership map[string]any
	for deadline := time.Now().Add(5 * time.Second); membership == nil || membership["state"] != "committed"; time.Sleep(10 * time.Millisecond) {
		_, membership = c.call(t, "GET", base+"draw", "")
		if time.Now().After(deadline) {
			t.Fatalf("no membership commitment published after the pre-queue closed: %v", membership)
		}
	}
	if membership["members"] != float64(pre) || membership["seed_hash"] != commitment["seed_hash"] || len(membership["members_hash"].(string)) != 64 {
		t.Fatalf("membership commitment: got %v, want %d members and the committed seed hash", membership, pre)
	}
	// A fan who comes after the close waits for the draw too, behind it.
	_, lateDoc := c.call(t, "POST", base+"join", "")
	if lateDoc["state"] != "prequeue" {
		t.Fatalf("a join after the close: got %v, want state prequeue", lateDoc)
	}

	// The sale starts: the proxy draws the pre-queue.
	clock.Set(start.Add(time.Second))
	c.waitLine(t, "finals", func(s queue.State) bool { return !s.Prequeue && s.Tail >= pre })
	_, lateDoc = c.call(t, "GET", base+"status", lateDoc["ticket"].(string))
	if lateDoc["position"] != float64(pre+1) {
		t.Fatalf("the fan who came after the close: got %v, want position %d", lateDoc, pre+1)
	}
	// 5,000 arrive after the start, one after the other.
	postTickets := make([]string, post)
	for i := range postTickets {
		_, doc := c.call(t, "POST", base+"join", "")
		postTickets[i], _ = doc["ticket"].(string)
		if got := doc["position"]; got != float64(pre+i+2) {
			t.Fatalf("post-start arrival %d: got position %v, want %d", i, got, pre+i+2)
		}
	}

	// Pre-queue fans get their drawn number when they come back.
	rank := make([]int, pre)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < pre; i += workers {
				_, doc := c.call(t, "GET", base+"status", preTickets[i])
				pos, _ := doc["position"].(float64)
				if doc["state"] != "waiting" || pos < 1 || pos > pre {
					t.Errorf("pre-queue fan %d after the draw: got %v, want waiting at a position in 1..%d", i, doc, pre)
					return
				}
				rank[i] = int(pos)
				preTickets[i] = doc["ticket"].(string)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	seen := make([]bool, pre+1)
	for _, r := range rank {
		if seen[r] {
			t.Fatalf("position %d given twice", r)
		}
		seen[r] = true
	}
	// Independence of join order and drawn rank: 10 × 10 deciles.
	var table [10][10]float64
	for i, r := range rank {
		table[i*10/pre][(r-1)*10/pre]++
	}
	var chi2 float64
	for _, row := range table {
		for _, n := range row {
			chi2 += (n - pre/100) * (n - pre/100) / (pre / 100)
		}
	}
	t.Logf("join order vs drawn rank: χ² = %.1f with 81 degrees of freedom (critical value at p = 1e-6: %.1f)", chi2, chiSquareCritical(81))
	if chi2 > chiSquareCritical(81) {
		t.Errorf("the drawn order depends on the join order: χ² = %.1f > %.1f", chi2, chiSquareCritical(81))
	}

	// Admission: 10 s at 1,000/s admits exactly the pre-queue; every
	// post-start arrival is still waiting.
	if _, err := c.store.SetControl(t.Context(), "finals", queue.Control{RatePerSecond: 1000, SessionTTL: 15 * time.Minute, ClaimWindow: 2 * time.Minute}, queue.Seed{}); err != nil {
		t.Fatal(err)
	}
	clock.Set(start.Add(11 * time.Second))
	c.waitLine(t, "finals", func(s queue.State) bool { return s.Serving == pre })
	for i := 0; i < pre; i += 97 {
		if _, doc := c.call(t, "GET", base+"status", preTickets[i]); doc["state"] != "admitted" {
			t.Fatalf("pre-queue fan %d after 10,000 admissions: got %v, want admitted", i, doc)
		}
	}
	for i, tk := range postTickets {
		if _, doc := c.call(t, "GET", base+"status", tk); doc["state"] != "waiting" || doc["position"] != float64(i+2) {
			t.Fatalf("post-start arrival %d: got %v, want waiting at %d", i, doc, i+2)
		}
	}

	// The published draw verifies; a tampered copy does not.
	status, _ := c.call(t, "GET", base+"draw", "")
	if status != 200 {
		t.Fatalf("draw: got status %d, want 200", status)
	}
	doc, err := c.store.DrawDocument(t.Context(), "finals")
	if err != nil {
		t.Fatal(err)
	}
	var d queue.Draw
	if err := json.Unmarshal(doc, &d); err != nil {
		t.Fatal(err)
	}
	if d.SeedHash != commitment["seed_hash"] || d.MembersHash != membership["members_hash"] || d.Members != pre {
		t.Errorf("published draw: seed hash %s members hash %s members %d, want the committed %s, %s and %d",
			d.SeedHash, d.MembersHash, d.Members, commitment["seed_hash"], membership["members_hash"], pre)
	}
	// Each fan finds their place in the published order by their member id.
	drawn := make(map[string]int, pre)
	for i, id := range d.Order {
		drawn[id] = i + 1
	}
	for i, id := range members {
		if drawn[id] != rank[i] {
			t.Fatalf("fan %d (member %s): published at %d, given position %d", i, id, drawn[id], rank[i])
		}
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "draw.json")
	if err := os.WriteFile(good, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, _, err := runVenue("lottery", "verify", good); err != nil || out != "ok: 10000 members, order verified\n" {
		t.Errorf("foyer lottery verify of the published draw: got %q, %v", out, err)
	}
	d.Order[10], d.Order[20] = d.Order[20], d.Order[10]
	tampered, _ := json.Marshal(d)
	bad := filepath.Join(dir, "tampered.json")
	if err := os.WriteFile(bad, tampered, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runVenue("lottery", "verify", bad); !errors.Is(err, queue.ErrOrderMismatch) {
		t.Errorf("foyer lottery verify of a tampered draw: got %v, want ErrOrderMismatch", err)
	}
}
