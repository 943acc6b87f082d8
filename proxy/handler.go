package proxy

import (
	"bytes"
	"errors"
	"iter"
	"net"
	"net/netip"
	"runtime/debug"
	"time"

	"github.com/valyala/fasthttp"
)

// Cookie and header names of the public contract. Cookie names carry the
// event's name (foyer_ticket_<event>, foyer_admission_<event>) so that events
// sharing a host keep their own places and admissions: cookies are per host
// and the status API is outside every event's path.
const (
	cookieTicketPrefix    = "foyer_ticket_"
	cookieAdmissionPrefix = "foyer_admission_"
	headerTicket          = "Foyer-Ticket"
	headerVisitor         = "Foyer-Visitor"
	headerEvent           = "Foyer-Event"
)

// Handler serves the public listener. It never keeps ctx or its byte slices
// after returning.
func (p *Proxy) Handler(ctx *fasthttp.RequestCtx) {
	// fasthttp does not recover panics: one bug must not take down the
	// waiting room of every fan connected to this process.
	defer p.recoverPanic(ctx)
	// The server stamps each request when it reads it: no second clock read.
	start := ctx.Time()
	if start.IsZero() { // a RequestCtx that did not come from a server
		start = time.Now()
	}
	now := start
	if p.now != nil {
		now = p.now()
	}
	path := ctx.Path()
	if bytes.HasPrefix(path, []byte(reservedPrefix)) {
		r := p.serveAPI(ctx, path[len(reservedPrefix):], now)
		p.m.observe(r, start)
		return
	}
	ev := p.match(ctx.Host(), path)
	if ev == nil {
		writeError(ctx, fasthttp.StatusNotFound, "unknown_event", "no event covers this host and path")
		p.m.observe(routeNotFound, start)
		return
	}
	p.m.observe(p.gate(ctx, ev, now), start)
}

// recoverPanic turns a panic of the handler into a logged 500.
func (p *Proxy) recoverPanic(ctx *fasthttp.RequestCtx) {
	if r := recover(); r != nil {
		p.m.panics.Inc()
		p.log.Error("panic while serving a request", "panic", r, "path", string(ctx.Path()), "stack", string(debug.Stack()))
		writeError(ctx, fasthttp.StatusInternalServerError, "internal", "an internal error occurred; try again")
	}
}

// match returns the event covering host and path, or nil.
func (p *Proxy) match(host, path []byte) *event {
	if i := bytes.LastIndexByte(host, ':'); i >= 0 && !bytes.HasSuffix(host, []byte("]")) {
		host = host[:i]
	}
	for i := range p.routes {
		r := &p.routes[i]
		if r.host != "" && !asciiEqualFold(host, r.host) {
			continue
		}
		if hasPathPrefix(path, r.prefix) {
			return r.ev
		}
	}
	return nil
}

// hasPathPrefix reports whether path is under prefix at a segment boundary:
// "/shows" covers "/shows" and "/shows/x" but not "/showsx".
func hasPathPrefix(path []byte, prefix string) bool {
	if len(path) < len(prefix) || string(path[:len(prefix)]) != prefix {
		return false
	}
	return len(path) == len(prefix) || prefix[len(prefix)-1] == '/' || path[len(prefix)] == '/'
}

func asciiEqualFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// gate forwards an admitted request to ev's origin and answers any other with
// the queue page or the status document.
func (p *Proxy) gate(ctx *fasthttp.RequestCtx, ev *event, now time.Time) routeName {
	tok, fromCookie := admissionToken(ctx, ev)
	if tok != nil {
		claims, err := p.tokens.Verify(tok, ev.cfg.Name, now)
		if err == nil && ev.sess.ended(claims.Visitor, now) {
			err = errSessionEnded
		}
		if err == nil {
			p.renew(ctx, ev, &claims, fromCookie, now)
			p.forward(ctx, ev, claims.Visitor)
			p.endIfAsked(ctx, ev, claims.Visitor, fromCookie, now)
			return routeForward
		}
		p.m.rejected(kindAdmission, admissionReason(err))
		if !wantsHTML(ctx) {
			writeError(ctx, fasthttp.StatusUnauthorized, "invalid_admission", "admission token rejected: "+admissionReason(err))
			return routeGate
		}
		if fromCookie {
			p.clearCookie(ctx, ev.cookieAdmission)
		}
	}
	if wantsHTML(ctx) {
		p.servePage(ctx, ev, now)
		return routePage
	}
	p.serveStatus(ctx, ev, now, true)
	return routeGate
}

// admissionToken returns the admission token of the request: the
// Authorization bearer token of apps, else the browser's cookie.
func admissionToken(ctx *fasthttp.RequestCtx, ev *event) (tok []byte, fromCookie bool) {
	if auth := ctx.Request.Header.Peek(fasthttp.HeaderAuthorization); len(auth) > 7 && asciiEqualFold(auth[:7], "bearer ") {
		return bytes.TrimSpace(auth[7:]), false
	}
	if c := ctx.Request.Header.Cookie(ev.cookieAdmission); len(c) > 0 {
		return c, true
	}
	return nil, false
}

// wantsHTML reports whether the client asked for a page rather than JSON. A
// browser's navigation sends Accept: text/html; apps send application/json.
func wantsHTML(ctx *fasthttp.RequestCtx) bool {
	accept := ctx.Request.Header.Peek(fasthttp.HeaderAccept)
	return bytes.Contains(accept, []byte("text/html"))
}

// hopHeaders are the hop-by-hop headers of RFC 9110 §7.6.1 and the older
// ones (RFC 2616 §13.5.1, Proxy-Connection) that proxies still meet. They
// describe one connection and must not be forwarded.
var hopHeaders = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// forward sends the admitted request to ev's origin and the origin's answer
// back, as a reverse proxy: hop-by-hop headers removed both ways (with the
// headers Connection names, RFC 9110 §7.6.1), X-Forwarded-For set, and the
// visitor id added so the origin knows who was admitted.
func (p *Proxy) forward(ctx *fasthttp.RequestCtx, ev *event, visitor string) {
	req := &ctx.Request
	if len(req.Header.Host()) == 0 {
		// HTTP/1.0 requests may lack a Host; the origin's client needs one.
		req.SetHost(ev.originHost)
	}
	if hasHopHeader(req.Header.All()) {
		removeHopHeaders(&req.Header)
	}
	req.Header.Set(headerVisitor, visitor)
	req.Header.Set(headerEvent, ev.cfg.Name)
	p.setForwarded(ctx)
	resp := &ctx.Response
	began := time.Now()
	err := ev.origin.DoTimeout(req, resp, p.cfg.OriginTimeout)
	// The adaptive controller follows what the origin's answers cost,
	// failures included: an origin that times out is the slowest of all.
	took := time.Since(began)
	if err != nil {
		ev.ad.meter.observe(took, true)
		resp.Reset()
		kind, status := originErrorKind(err)
		ev.em.originErrors(kind).Inc()
		p.log.Warn("origin error", "event", ev.cfg.Name, "kind", kind, "err", err)
		writeError(ctx, status, "origin_"+kind, "the site did not answer; try again in a moment")
		return
	}
	// Also drops the origin's Connection: close, which is about our
	// connection to it, not the visitor's.
	if hasHopHeader(resp.Header.All()) {
		removeHopHeaders(&resp.Header)
	}
	ev.em.forwarded.Inc()
	failed := resp.StatusCode() >= fasthttp.StatusInternalServerError
	ev.ad.meter.observe(took, failed)
	if failed {
		ev.em.originErrors("status_5xx").Inc()
	}
}

// headerSet is the part of fasthttp's request and response headers that
// removeHopHeaders needs.
type headerSet interface {
	Peek(string) []byte
	Del(string)
	DelBytes([]byte)
}

// hasHopHeader reports whether a header of all is hop-by-hop. Most requests
// carry none but the Connection fasthttp keeps as a flag, and each Del is a
// scan of the headers: one pass first saves nine. Called with the concrete
// header types so the iterator does not allocate.
func hasHopHeader(all iter.Seq2[[]byte, []byte]) bool {
	for k := range all {
		if isHopHeader(k) {
			return true
		}
	}
	return false
}

// removeHopHeaders deletes the hop-by-hop headers of h, first those that its
// Connection header lists. Deleting Connection also clears fasthttp's
// connection-close flag of h; the server has read the visitor's wish before
// the handler ran, so only the hop to the origin (or back) is affected.
func removeHopHeaders(h headerSet) {
	if c := h.Peek(fasthttp.HeaderConnection); len(c) > 0 {
		// Deleting a header may reuse c's storage: copy the names first.
		var buf [256]byte
		names := append(buf[:0], c...)
		for len(names) > 0 {
			var name []byte
			if i := bytes.IndexByte(names, ','); i >= 0 {
				name, names = names[:i], names[i+1:]
			} else {
				name, names = names, nil
			}
			if name = bytes.TrimSpace(name); len(name) > 0 {
				h.DelBytes(name)
			}
		}
	}
	for _, name := range hopHeaders {
		h.Del(name)
	}
}

// isHopHeader reports whether k is Connection or one of hopHeaders.
func isHopHeader(k []byte) bool {
	if len(k) < 2 || len(k) > len("Proxy-Authorization") {
		return false
	}
	for _, name := range hopHeaders {
		if len(k) == len(name) && bytes.EqualFold(k, []byte(name)) {
			return true
		}
	}
	return false
}

// setForwarded sets X-Forwarded-For and X-Forwarded-Proto. The peer's
// address is appended to the incoming X-Forwarded-For, and the incoming
// X-Forwarded-Proto kept (a TLS-terminating load balancer's), only when the
// peer is a trusted proxy; an untrusted peer's headers are replaced, since a
// visitor could write anything there.
func (p *Proxy) setForwarded(ctx *fasthttp.RequestCtx) {
	peer := peerAddr(ctx)
	trusted := p.trusted(peer)
	if !trusted || len(ctx.Request.Header.Peek("X-Forwarded-Proto")) == 0 {
		if ctx.IsTLS() {
			ctx.Request.Header.Set("X-Forwarded-Proto", "https")
		} else {
			ctx.Request.Header.Set("X-Forwarded-Proto", "http")
		}
	}
	if trusted {
		if prior := ctx.Request.Header.Peek("X-Forwarded-For"); len(prior) > 0 {
			v := make([]byte, 0, len(prior)+48)
			v = append(v, prior...)
			v = append(v, ", "...)
			v = peer.AppendTo(v)
			ctx.Request.Header.SetBytesV("X-Forwarded-For", v)
			return
		}
	}
	var buf [48]byte
	ctx.Request.Header.SetBytesV("X-Forwarded-For", peer.AppendTo(buf[:0]))
}

func (p *Proxy) trusted(a netip.Addr) bool {
	for _, pfx := range p.cfg.TrustedProxies {
		if pfx.Contains(a) {
			return true
		}
	}
	return false
}

func peerAddr(ctx *fasthttp.RequestCtx) netip.Addr {
	if ta, ok := ctx.RemoteAddr().(*net.TCPAddr); ok {
		if a, ok := netip.AddrFromSlice(ta.IP); ok {
			return a.Unmap()
		}
	}
	return netip.AddrFrom4([4]byte{127, 0, 0, 1}) // in-memory listeners in tests
}

// originErrorKind classifies a forwarding error for metrics and the answer.
func originErrorKind(err error) (kind string, status int) {
	switch {
	case errors.Is(err, fasthttp.ErrTimeout), errors.Is(err, fasthttp.ErrDialTimeout):
		return "timeout", fasthttp.StatusGatewayTimeout
	case errors.Is(err, fasthttp.ErrNoFreeConns), errors.Is(err, fasthttp.ErrConnPoolStrategyNotImpl):
		return "saturated", fasthttp.StatusServiceUnavailable
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout", fasthttp.StatusGatewayTimeout
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return "connection", fasthttp.StatusBadGateway
	}
	return "other", fasthttp.StatusBadGateway
}

// serverError answers requests fasthttp could not parse: too large headers
// (431), too large bodies (413), slow clients (408) and malformed requests
// (400), always as a JSON error.
func (p *Proxy) serverError(ctx *fasthttp.RequestCtx, err error) {
	var small *fasthttp.ErrSmallBuffer
	var ne net.Error
	switch {
	case errors.As(err, &small):
		writeError(ctx, fasthttp.StatusRequestHeaderFieldsTooLarge, "headers_too_large", "request headers are too large")
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		writeError(ctx, fasthttp.StatusRequestEntityTooLarge, "body_too_large", "request body is too large")
	case errors.As(err, &ne) && ne.Timeout():
		writeError(ctx, fasthttp.StatusRequestTimeout, "timeout", "request was not received in time")
	default:
		writeError(ctx, fasthttp.StatusBadRequest, "bad_request", "request could not be parsed")
	}
	p.m.observe(routeBadRequest, time.Now())
}
