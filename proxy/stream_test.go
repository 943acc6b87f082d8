package proxy

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/foyerhq/foyer/internal/redistest"
	"github.com/foyerhq/foyer/queue"
)

// sseEvent is one event read from a stream: its data field, or the comment
// of a comment-only block.
type sseEvent struct {
	data    string
	comment string
	retry   string
}

// openStream connects to a stream route with net/http, whose client reads
// a chunked body as it arrives. Events come on the channel, which is closed
// when the server ends the stream.
func (h *harness) openStream(uri string, headers ...string) (*http.Response, <-chan sseEvent) {
	h.t.Helper()
	req, err := http.NewRequest("GET", "http://"+h.addr+uri, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		h.t.Fatalf("GET %s: %v", uri, err)
	}
	h.t.Cleanup(func() { resp.Body.Close() })
	ch := make(chan sseEvent, 64)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(resp.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev != (sseEvent{}) {
					ch <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "data: "):
				ev.data = line[len("data: "):]
			case strings.HasPrefix(line, "retry: "):
				ev.retry = line[len("retry: "):]
			case strings.HasPrefix(line, ":"):
				ev.comment = strings.TrimSpace(line[1:])
			}
		}
	}()
	return resp, ch
}

// next returns the next event carrying a document, skipping comments, and
// fails the test after timeout; ok is false when the stream ended.
func next(t *testing.T, ch <-chan sseEvent, timeout time.Duration) (doc map[string]any, ok bool) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case ev, open := <-ch:
			if !open {
				return nil, false
			}
			if ev.data == "" {
				continue
			}
			if err := json.Unmarshal([]byte(ev.data), &doc); err != nil {
				t.Fatalf("event data is not JSON: %v: %q", err, ev.data)
			}
			return doc, true
		case <-deadline:
			t.Fatalf("no event within %v", timeout)
		}
	}
}

// setRate changes the rate of the line in the store, as the admin API
// would; the proxies apply it at their next refresh.
func (h *harness) setRate(event string, rate float64) {
	h.t.Helper()
	_, st, _ := h.p.Event(event)
	if _, err := h.store.SetControl(context.Background(), event, queue.Control{RatePerSecond: rate}, queue.Seed{Last: st, Control: st.Control}); err != nil {
		h.t.Fatal(err)
	}
}

// joinN joins n new visitors and returns the last one's ticket.
func (h *harness) joinN(event string, n int) string {
	h.t.Helper()
	var ticket string
	for range n {
		r := h.do("POST", "/_foyer/v1/events/"+event+"/join")
		if r.status != 200 {
			h.t.Fatalf("join: got status %d, want 200: %s", r.status, r.body)
		}
		ticket, _ = r.json(h.t)["ticket"].(string)
	}
	return ticket
}

func streamOpts(rate float64, mutate func(*Config)) harnessOpt {
	return func(c *Config, _ *Deps) {
		c.Events[0].RatePerSecond = rate
		c.StreamInterval = 10 * time.Millisecond
		if mutate != nil {
			mutate(c)
		}
	}
}

func TestStreamCarriesPositionsUntilAdmitted(t *testing.T) {
	for _, how := range []string{"header", "query", "cookie"} {
		t.Run(how, func(t *testing.T) {
			h := newHarness(t, streamOpts(0, nil))
			ticket := h.joinN("show", 8)
			uri := "/_foyer/v1/events/show/stream?return_to=/seats"
			var headers []string
			switch how {
			case "header":
				headers = []string{"Foyer-Ticket", ticket}
			case "query":
				uri += "&ticket=" + ticket
			case "cookie":
				headers = []string{"Cookie", cookieTicketPrefix + "show=" + ticket}
			}
			resp, ch := h.openStream(uri, headers...)
			if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
				t.Fatalf("got %d %q, want 200 text/event-stream", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			doc, _ := next(t, ch, 2*time.Second)
			if doc["state"] != "waiting" || doc["position"] != 8.0 {
				t.Fatalf("first event: got %v, want waiting at position 8", doc)
			}
			h.setRate("show", 20)
			last, updates := 8.0, 0
			for {
				doc, ok := next(t, ch, 5*time.Second)
				if !ok {
					t.Fatal("stream ended before the admitted event")
				}
				if doc["state"] == "admitted" {
					if tok, _ := doc["admission_token"].(string); tok == "" || doc["redirect"] != "/seats" {
						t.Fatalf("admitted event: got %v, want a token and redirect /seats", doc)
					}
					break
				}
				pos, _ := doc["position"].(float64)
				if pos > last {
					t.Fatalf("position went from %v to %v", last, pos)
				}
				last = pos
				updates++
			}
			if updates < 2 {
				t.Errorf("got %d position updates before admission, want at least 2", updates)
			}
			if _, ok := next(t, ch, 2*time.Second); ok {
				t.Error("the stream went on after the admitted event, want it closed")
			}
			if got := h.counter("foyer_sse_events_total", map[string]string{"event": "show"}); got < 3 {
				t.Errorf("foyer_sse_events_total: got %v, want at least 3", got)
			}
		})
	}
}

func TestStreamOfAdmittedVisitorSetsCookie(t *testing.T) {
	h := newHarness(t, streamOpts(1000, nil))
	ticket := h.joinN("show", 1)
	h.waitRefresh("show")
	resp, ch := h.openStream("/_foyer/v1/events/show/stream", "Foyer-Ticket", ticket)
	if !strings.Contains(strings.Join(resp.Header.Values("Set-Cookie"), "\n"), cookieAdmissionPrefix+"show=") {
		t.Errorf("Set-Cookie: got %q, want the admission cookie", resp.Header.Values("Set-Cookie"))
	}
	if doc, _ := next(t, ch, 2*time.Second); doc["state"] != "admitted" {
		t.Fatalf("got %v, want admitted", doc)
	}
	if _, ok := next(t, ch, 2*time.Second); ok {
		t.Error("stream did not end after the admitted event")
	}
}

func TestStreamRejects(t *testing.T) {
	h := newHarness(t, streamOpts(0, nil))
	cases := []struct {
		name, method, uri string
		headers           []string
		status            int
		code              string
	}{
		{"no ticket", "GET", "/_foyer/v1/events/show/stream", nil, 400, "ticket_required"},
		{"forged ticket", "GET", "/_foyer/v1/events/show/stream", []string{"Foyer-Ticket", "v1.x.y.z"}, 401, "invalid_ticket"},
		{"forged query ticket", "GET", "/_foyer/v1/events/show/stream?ticket=v1.x.y.z", nil, 401, "invalid_ticket"},
		{"post", "POST", "/_foyer/v1/events/show/stream", nil, 405, "method_not_allowed"},
		{"unknown event", "GET", "/_foyer/v1/events/nope/stream", nil, 404, "unknown_event"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := h.do(c.method, c.uri, c.headers...)
			if r.status != c.status {
				t.Fatalf("got status %d, want %d: %s", r.status, c.status, r.body)
			}
			if code := r.json(t)["error"].(map[string]any)["code"]; code != c.code {
				t.Errorf("got code %v, want %s", code, c.code)
			}
		})
	}
}

func TestMaxStreams(t *testing.T) {
	h := newHarness(t, streamOpts(0, func(c *Config) { c.MaxStreams = 2 }))
	ticket := h.joinN("show", 1)
	for range 2 {
		resp, ch := h.openStream("/_foyer/v1/events/show/stream", "Foyer-Ticket", ticket)
		if resp.StatusCode != 200 {
			t.Fatalf("stream within the limit: got %d, want 200", resp.StatusCode)
		}
		next(t, ch, 2*time.Second)
	}
	if got := h.counter("foyer_sse_streams", nil); got != 2 {
		t.Errorf("foyer_sse_streams: got %v, want 2", got)
	}
	r := h.do("GET", "/_foyer/v1/events/show/stream", "Foyer-Ticket", ticket)
	if r.status != 503 || r.header("Retry-After") == "" {
		t.Fatalf("third stream: got %d with Retry-After %q, want 503 with Retry-After", r.status, r.header("Retry-After"))
	}
	if code := r.json(t)["error"].(map[string]any)["code"]; code != "streams_unavailable" {
		t.Errorf("got code %v, want streams_unavailable", code)
	}
	// Polling, the fallback, still works.
	if r := h.do("GET", "/_foyer/v1/events/show/status", "Foyer-Ticket", ticket); r.status != 200 {
		t.Errorf("status poll: got %d, want 200", r.status)
	}
}

func TestStreamsEndOnDrain(t *testing.T) {
	h := newHarness(t, streamOpts(0, nil))
	ticket := h.joinN("show", 1)
	_, ch := h.openStream("/_foyer/v1/events/show/stream", "Foyer-Ticket", ticket)
	next(t, ch, 2*time.Second)
	h.p.Drain()
	if _, ok := next(t, ch, 2*time.Second); ok {
		t.Fatal("stream went on after Drain")
	}
	if r := h.do("GET", "/_foyer/v1/events/show/stream", "Foyer-Ticket", ticket); r.status != 503 {
		t.Errorf("stream while draining: got %d, want 503", r.status)
	}
	deadline := time.Now().Add(2 * time.Second)
	for h.counter("foyer_sse_streams", nil) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("foyer_sse_streams: got %v after Drain, want 0", h.counter("foyer_sse_streams", nil))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestStreamOutlivesWriteTimeout checks the deadline strategy: fasthttp
// would cut the body WriteTimeout after the handler returned; keepalive
// comments push the deadline forward.
func TestStreamOutlivesWriteTimeout(t *testing.T) {
	h := newHarness(t, streamOpts(0, func(c *Config) { c.WriteTimeout = 200 * time.Millisecond }))
	ticket := h.joinN("show", 1)
	_, ch := h.openStream("/_foyer/v1/events/show/stream", "Foyer-Ticket", ticket)
	next(t, ch, 2*time.Second)
	keepalives := 0
	for end := time.After(time.Second); keepalives >= 0; {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatalf("stream cut after %d keepalives, within 5×WriteTimeout", keepalives)
			}
			if ev.comment == "keepalive" {
				keepalives++
			}
		case <-end:
			if keepalives < 3 {
				t.Errorf("got %d keepalive comments in 1s, want at least 3 (every WriteTimeout/2)", keepalives)
			}
			keepalives = -1
		}
	}
	h.setRate("show", 1000)
	if doc, _ := next(t, ch, 3*time.Second); doc["state"] != "admitted" {
		t.Fatalf("got %v, want admitted", doc)
	}
}

// countingStore counts Advance calls (the refreshes of the line) and Claim
// calls (one per admission).
type countingStore struct {
	queue.Store
	advances, claims atomic.Int64
}

func (s *countingStore) Advance(ctx context.Context, event string, seed queue.Seed) (queue.State, error) {
	s.advances.Add(1)
	return s.Store.Advance(ctx, event, seed)
}

func (s *countingStore) Claim(ctx context.Context, event string, t queue.Ticket, seed queue.Seed) (queue.State, error) {
	s.claims.Add(1)
	return s.Store.Claim(ctx, event, t, seed)
}

// TestStreamsCostOneStoreCallPerRefresh holds many streams on a line kept in
// a real Redis while it advances, and counts the commands Redis ran: one
// per refresh, whatever the number of streams, plus one claim per fan
// admitted.
func TestStreamsCostOneStoreCallPerRefresh(t *testing.T) {
	srv := redistest.Start(t)
	store := &countingStore{Store: queue.NewRedis(srv.Client(t), queue.RedisOptions{})}
	h := newHarness(t, streamOpts(0, nil), func(_ *Config, d *Deps) { d.Store = store })
	const streams = 40
	tickets := make([]string, streams)
	for i := range tickets {
		tickets[i] = h.joinN("show", 5) // 200 waiting: nobody is admitted in the window
	}
	chans := make([]<-chan sseEvent, streams)
	for i, tk := range tickets {
		_, chans[i] = h.openStream("/_foyer/v1/events/show/stream", "Foyer-Ticket", tk)
		next(t, chans[i], 2*time.Second)
	}
	// A store call is one script (the commands a script runs inside are
	// counted too, under their own names).
	commands := func() int64 {
		st := srv.CommandStats(t)
		return st["eval"] + st["evalsha"]
	}
	h.setRate("show", 20)
	h.waitRefresh("show")
	eventsBefore := h.counter("foyer_sse_events_total", map[string]string{"event": "show"})
	cmdBefore, advBefore, claimsBefore := commands(), store.advances.Load(), store.claims.Load()
	time.Sleep(time.Second)
	cmds, advances, claims := commands()-cmdBefore, store.advances.Load()-advBefore, store.claims.Load()-claimsBefore
	events := h.counter("foyer_sse_events_total", map[string]string{"event": "show"}) - eventsBefore
	if events < 5*streams {
		t.Errorf("streams got %v events in 1s, want at least %d", events, 5*streams)
	}
	// Advances in flight at either reading may fall on either side.
	if cmds > advances+claims+2 {
		t.Logf("commands: %v", srv.CommandStats(t))
		t.Errorf("%d streams over %d refreshes and %d claims ran %d Redis scripts, want at most one per refresh and claim", streams, advances, claims, cmds)
	}
	if claims > 5 {
		t.Errorf("got %d claims in 1s at 20 admissions/s of one fan in five, want at most 5", claims)
	}
}
