package proxy

import (
	"bufio"
	"bytes"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/foyerhq/foyer/queue"
)

// The push channel: GET /_foyer/v1/events/{event}/stream answers with
// Server-Sent Events (https://html.spec.whatwg.org/multipage/server-sent-events.html),
// each a status document. The work is split so that it does not grow with
// the number of fans per store call: the refresh loop publishes the line to
// the event's broadcast once per refresh when it changed (one channel close),
// and each stream, woken by it, places its own ticket in the published line
// and renders its own small document with appendStatus, as a poll would.

// Stream timing. keepaliveEvery is below the idle timeouts of common load
// balancers (60 s) and proxies, so an idle stream is not cut.
const (
	keepaliveEvery = 15 * time.Second
	// retryMin and retrySpread set the reconnection delay announced in
	// retry: fields, spread so that fans cut off together (a draining
	// proxy) do not reconnect together.
	retryMin    = 2 * time.Second
	retrySpread = 3 * time.Second
)

// broadcast hands the latest line of one event to any number of streams. A
// publication replaces the snapshot and closes the channel of the previous
// one, so it costs one close whatever the number of streams; streams read
// the snapshot without locking. The zero value is not usable: call init.
type broadcast struct {
	cur atomic.Pointer[lineSnapshot]
	mu  sync.Mutex // serialises publishers' read-modify-write of cur
}

// lineSnapshot is one published line; changed is closed when a newer one
// replaces it.
type lineSnapshot struct {
	line    queue.State
	changed chan struct{}
}

func (b *broadcast) init(s queue.State) {
	b.cur.Store(&lineSnapshot{line: s, changed: make(chan struct{})})
}

// load returns the latest snapshot.
func (b *broadcast) load() *lineSnapshot { return b.cur.Load() }

// publish makes s the latest snapshot and wakes the streams, unless nothing
// a fan sees changed since the last publication. It reports whether it
// published.
func (b *broadcast) publish(s queue.State) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	old := b.cur.Load()
	if sameForFans(old.line, s) {
		return false
	}
	b.cur.Store(&lineSnapshot{line: s, changed: make(chan struct{})})
	close(old.changed)
	return true
}

// sameForFans reports whether a and b give every ticket the same status
// document: the tail and the store's clock do not matter to a fan.
func sameForFans(a, b queue.State) bool {
	return a.Epoch == b.Epoch && a.Serving == b.Serving && a.PrevEpoch == b.PrevEpoch && a.Prequeue == b.Prequeue &&
		a.Carried == b.Carried && a.Control == b.Control
}

// stream is what one Server-Sent Events connection keeps after its handler
// returned: copies, never the RequestCtx's bytes.
type stream struct {
	ev       *event
	ticket   queue.Ticket
	signed   []byte
	redirect []byte
	first    []byte // the document rendered by the handler
	done     bool   // first is final (admitted)
	snap     *lineSnapshot
	// conn is the client's connection, used only to push its write deadline
	// forward while the stream runs; see runStream.
	conn net.Conn
}

// serveStream answers GET /_foyer/v1/events/{event}/stream. The ticket is
// read once: from the Foyer-Ticket header, the ticket cookie, or the ticket
// query parameter (EventSource cannot set headers, and apps without cookies
// need a way in). A bad or missing ticket gets the same 4xx as status; a
// ticket whose turn has come gets its admission cookie here, while headers
// can still be set, and a stream of one admitted document.
func (p *Proxy) serveStream(ctx *fasthttp.RequestCtx, ev *event, now time.Time) {
	if p.draining.Load() {
		p.refuseStream(ctx, "this proxy is shutting down; poll the status route or reconnect")
		return
	}
	// Load before placing the ticket: a publication between the two then
	// wakes the stream at once rather than being missed.
	snap := ev.changes.load()
	if len(ctx.Request.Header.Peek(headerTicket)) == 0 && len(ctx.Request.Header.Cookie(ev.cookieTicket)) == 0 {
		if q := ctx.QueryArgs().Peek("ticket"); len(q) > 0 {
			ctx.Request.Header.SetBytesV(headerTicket, q)
		}
	}
	v, ok := p.place(ctx, ev, now, false, false)
	if !ok {
		return
	}
	if v.joinError != nil {
		writeError(ctx, fasthttp.StatusServiceUnavailable, "store_unavailable", "the line cannot take new places right now; retry in a few seconds")
		ctx.Response.Header.Set(fasthttp.HeaderRetryAfter, "2")
		return
	}
	if p.streams.Add(1) > int64(p.cfg.MaxStreams) {
		p.streams.Add(-1)
		p.refuseStream(ctx, "too many streams on this proxy; poll the status route instead")
		return
	}
	p.m.sseStreams.Inc()
	redirect := bytes.Clone(returnTo(ctx, ev))
	s := &stream{
		ev:       ev,
		ticket:   v.ticket,
		signed:   bytes.Clone(v.signed),
		redirect: redirect,
		done:     v.token != "" || v.closed || v.soldOut,
		snap:     snap,
		conn:     ctx.Conn(),
	}
	s.first = p.appendEvent(nil, ev, &v, redirect)
	ctx.Response.Header.SetContentType("text/event-stream; charset=utf-8")
	ctx.Response.Header.Set(fasthttp.HeaderCacheControl, "no-store")
	ctx.Response.Header.Set("X-Content-Type-Options", "nosniff")
	// Tells nginx-like buffering proxies in front to pass events through.
	ctx.Response.Header.Set("X-Accel-Buffering", "no")
	ctx.SetBodyStreamWriter(func(w *bufio.Writer) { p.runStream(w, s) })
}

// refuseStream answers 503 with Retry-After: the client keeps polling.
func (p *Proxy) refuseStream(ctx *fasthttp.RequestCtx, message string) {
	p.m.sseRefused.Inc()
	writeError(ctx, fasthttp.StatusServiceUnavailable, "streams_unavailable", message)
	ctx.Response.Header.Set(fasthttp.HeaderRetryAfter, "30")
}

// appendEvent appends one Server-Sent Event carrying v's status document.
// The document never contains a newline (appendJSONString escapes control
// characters), so it fits in one data: field.
func (p *Proxy) appendEvent(dst []byte, ev *event, v *visit, redirect []byte) []byte {
	dst = append(dst, "data: "...)
	dst = p.appendStatus(dst, ev, v, redirect)
	return append(dst, "\n\n"...)
}

// runStream writes the stream until the fan is admitted, the ticket's place
// is lost (the client then calls status, which rejoins), the client goes
// away (a write fails) or the proxy drains. It runs on fasthttp's stream
// goroutine, after the handler returned.
//
// fasthttp sets the connection's write deadline once, to WriteTimeout after
// the handler returns, and streams the body under it: left alone, every
// stream would be cut WriteTimeout after it started. So each write pushes
// the deadline WriteTimeout further, and keepalive comments come often
// enough that a healthy stream always writes within WriteTimeout; a client
// that stops reading still blocks a write for at most WriteTimeout.
func (p *Proxy) runStream(w *bufio.Writer, s *stream) {
	defer func() {
		p.streams.Add(-1)
		p.m.sseStreams.Dec()
	}()
	ev := s.ev
	keepalive := keepaliveEvery
	if wt := p.cfg.WriteTimeout; wt > 0 && wt/2 < keepalive {
		keepalive = wt / 2
	}
	retry := retryMin + rand.N(retrySpread)
	buf := make([]byte, 0, 1024)
	buf = append(buf, "retry: "...)
	buf = strconv.AppendInt(buf, retry.Milliseconds(), 10)
	buf = append(buf, '\n')
	buf = append(buf, s.first...)
	if !p.flushEvent(w, s, buf) {
		return
	}
	ev.em.sseEvents.Inc()
	if s.done {
		return
	}
	ka := time.NewTimer(keepalive)
	defer ka.Stop()
	pace := time.NewTimer(0)
	defer pace.Stop()
	last := time.Now()
	snap := s.snap
	for {
		select {
		case <-snap.changed:
		case <-ka.C:
			if !p.flushEvent(w, s, append(buf[:0], ": keepalive\n\n"...)) {
				return
			}
			ka.Reset(keepalive)
			continue
		case <-p.stopStreams:
			return
		}
		// A line advancing every refresh would otherwise mean ten
		// documents a second per fan: coalesce to one per StreamInterval.
		if d := p.cfg.StreamInterval - time.Since(last); d > 0 {
			pace.Reset(d)
			select {
			case <-pace.C:
			case <-p.stopStreams:
				return
			}
		}
		snap = ev.changes.load()
		v := visit{ticket: s.ticket, signed: s.signed, line: snap.line}
		v.standing, v.position = v.line.Place(s.ticket)
		switch {
		case v.standing == queue.Lost, v.standing == queue.Pre && !v.line.Prequeue:
			// The client reconnects (or polls); placing its ticket
			// again joins it, which gives the number the draw gave.
			return
		case v.standing == queue.Turn:
			if p.claim(ev, &v) {
				p.issueToken(ev, &v, p.clock(time.Time{}))
			} else if v.turnOver {
				return
			}
		}
		buf = p.appendEvent(buf[:0], ev, &v, s.redirect)
		if !p.flushEvent(w, s, buf) {
			return
		}
		ev.em.sseEvents.Inc()
		if v.token != "" || v.soldOut {
			return
		}
		last = time.Now()
		ka.Reset(keepalive)
	}
}

// flushEvent writes b and flushes it to the client, first pushing the
// connection's write deadline forward. It reports whether the client is
// still there.
func (p *Proxy) flushEvent(w *bufio.Writer, s *stream, b []byte) bool {
	if wt := p.cfg.WriteTimeout; wt > 0 && s.conn != nil {
		// Safe while the server goroutine writes: net.Conn methods may be
		// called concurrently.
		_ = s.conn.SetWriteDeadline(time.Now().Add(wt))
	}
	if _, err := w.Write(b); err != nil {
		return false
	}
	return w.Flush() == nil
}
