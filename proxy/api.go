package proxy

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/foyerhq/foyer/admission"
	"github.com/foyerhq/foyer/queue"
)

// ticketMaxAge is how long the browser keeps the ticket cookie: longer than
// any on-sale line, so a fan never loses a place by waiting.
const ticketMaxAge = 48 * time.Hour

// serveAPI serves the routes under /_foyer/; rest is the path after it.
func (p *Proxy) serveAPI(ctx *fasthttp.RequestCtx, rest []byte, now time.Time) routeName {
	if string(rest) == ".well-known/jwks.json" {
		if !ctx.IsGet() && !ctx.IsHead() {
			methodNotAllowed(ctx, "GET, HEAD")
			return routeJWKS
		}
		ctx.Response.Header.SetContentType("application/json")
		ctx.Response.Header.Set(fasthttp.HeaderCacheControl, "public, max-age=300")
		ctx.SetBody(p.jwks)
		return routeJWKS
	}
	const eventsPrefix = "v1/events/"
	if !bytes.HasPrefix(rest, []byte(eventsPrefix)) {
		writeError(ctx, fasthttp.StatusNotFound, "not_found", "no such route")
		return routeNotFound
	}
	rest = rest[len(eventsPrefix):]
	slash := bytes.IndexByte(rest, '/')
	if slash < 0 {
		writeError(ctx, fasthttp.StatusNotFound, "not_found", "no such route")
		return routeNotFound
	}
	ev, ok := p.byName[string(rest[:slash])]
	if !ok {
		writeError(ctx, fasthttp.StatusNotFound, "unknown_event", "no such event")
		return routeNotFound
	}
	switch string(rest[slash+1:]) {
	case "join":
		if !ctx.IsPost() {
			methodNotAllowed(ctx, "POST")
			return routeJoin
		}
		p.serveStatus(ctx, ev, now, true)
		return routeJoin
	case "status":
		if !ctx.IsGet() && !ctx.IsHead() {
			methodNotAllowed(ctx, "GET, HEAD")
			return routeStatus
		}
		p.serveStatus(ctx, ev, now, false)
		return routeStatus
	case "preview":
		p.servePreview(ctx, ev, now) // template.go
		return routePage
	case "stream":
		if !ctx.IsGet() {
			methodNotAllowed(ctx, "GET")
			return routeStream
		}
		p.serveStream(ctx, ev, now)
		return routeStream
	case "draw":
		if !ctx.IsGet() && !ctx.IsHead() {
			methodNotAllowed(ctx, "GET, HEAD")
			return routeStatus
		}
		p.serveDraw(ctx, ev)
		return routeStatus
	}
	writeError(ctx, fasthttp.StatusNotFound, "not_found", "no such route")
	return routeNotFound
}

// errNoTicket means the request carries no queue ticket.
var errNoTicket = errors.New("proxy: no ticket")

// readTicket returns the request's queue ticket for ev: the Foyer-Ticket
// header of apps, else the browser's cookie. A ticket that fails its checks
// is counted by reason.
// The raw ticket is valid until the handler returns.
func (p *Proxy) readTicket(ctx *fasthttp.RequestCtx, ev *event) (queue.Ticket, []byte, error) {
	raw := ctx.Request.Header.Peek(headerTicket)
	if len(raw) == 0 {
		raw = ctx.Request.Header.Cookie(ev.cookieTicket)
	}
	if len(raw) == 0 {
		return queue.Ticket{}, nil, errNoTicket
	}
	t, err := p.tickets.Parse(raw)
	if err == nil && t.Event != ev.cfg.Name {
		err = errWrongEventTicket
	}
	if err != nil {
		p.m.rejected(kindTicket, ticketReason(err))
		return queue.Ticket{}, nil, err
	}
	return t, raw, nil
}

var errWrongEventTicket = errors.New("proxy: ticket is for another event")

func ticketReason(err error) string {
	switch {
	case errors.Is(err, queue.ErrTicketMalformed):
		return "malformed"
	case errors.Is(err, queue.ErrTicketSignature):
		return "signature"
	case errors.Is(err, queue.ErrTicketUnknownKey):
		return "unknown_key"
	case errors.Is(err, errWrongEventTicket):
		return "wrong_event"
	}
	return "other"
}

// visit is what serveStatus and servePage work out for one request.
type visit struct {
	ticket    queue.Ticket
	signed    []byte // the ticket as the client should keep it; may alias the request
	line      queue.State
	standing  queue.Standing
	position  uint64
	token     string // admission token, when admitted
	joinError error  // the store could not be reached to join

	closed   bool   // the event is not open yet (opensAt) or the sale ended
	soldOut  bool   // the store refused a join or a claim: sold out
	turnOver bool   // the store refused a claim: the turn is over
	notice   string // a notice for this visitor only (turn_expired)
}

// Notice codes of the status document: why the estimate may have grown.
const noticeTurnExpired = "turn_expired"

// place resolves the request's place in ev's line, joining when the request
// has no ticket and mayJoin, or when its ticket's place was lost with the
// store's state, or when a pre-queue ticket's line has been drawn. It
// returns false after answering a bad ticket itself.
func (p *Proxy) place(ctx *fasthttp.RequestCtx, ev *event, now time.Time, mayJoin, html bool) (visit, bool) {
	var v visit
	if ev.closedAt(now) {
		// Before the line opens and after the sale ends nobody takes a
		// place; tickets and tokens already issued are left as they are.
		v.closed, v.line = true, ev.line()
		return v, true
	}
	t, raw, err := p.readTicket(ctx, ev)
	if mayJoin || html {
		lane, visitor, invited, ierr := ev.lanes.invitation(ctx, ev.cfg.Name, now)
		switch {
		case ierr != nil:
			writeError(ctx, fasthttp.StatusForbidden, "invalid_invite", ierr.Error())
			return v, false
		case invited && (err != nil || t.Visitor != visitor):
			// An invitation is a place of its own, whatever place
			// the visitor had before.
			return p.join(ctx, ev, now, visitor, lane), true
		}
	}
	switch {
	case err == nil:
		v.ticket = t
		v.line = ev.line()
		v.standing, v.position = v.line.Place(t)
		switch {
		case v.standing == queue.Pre && !v.line.Prequeue:
			// The pre-queue was drawn: joining again returns the
			// number the draw gave.
			return p.join(ctx, ev, now, t.Visitor, ev.lanes.open), true
		case v.standing != queue.Lost:
			v.signed = raw
		default:
			p.m.lostTickets.Inc()
			return p.join(ctx, ev, now, t.Visitor, ev.laneOf(t)), true
		}
	case err == errNoTicket && !mayJoin:
		writeError(ctx, fasthttp.StatusBadRequest, "ticket_required", "join the line first: POST /_foyer/v1/events/"+ev.cfg.Name+"/join")
		return v, false
	case ev.lanes.open < 0:
		writeError(ctx, fasthttp.StatusForbidden, "invite_required", errInviteRequired.Error())
		return v, false
	case err == errNoTicket, html:
		// A browser with a broken ticket cookie simply takes a new place.
		return p.join(ctx, ev, now, requestedVisitor(ctx), ev.lanes.open), true
	default:
		writeError(ctx, fasthttp.StatusUnauthorized, "invalid_ticket", "queue ticket rejected: "+ticketReason(err)+"; join again")
		return v, false
	}
	if v.standing == queue.Turn {
		return p.admit(ctx, ev, v, now), true
	}
	return v, true
}

// closedAt reports whether ev takes nobody in line at now: before its
// pre-queue opens or from the end of its sale.
func (ev *event) closedAt(now time.Time) bool {
	c := &ev.cfg
	return (!c.PrequeueOpensAt.IsZero() && now.Before(c.PrequeueOpensAt)) ||
		(!c.SaleEndsAt.IsZero() && !now.Before(c.SaleEndsAt))
}

// requestedVisitor returns the visitor id an app asked for (so its retries
// of a join are idempotent), or "" for a new random one. An id must be hard
// to guess: it names the place in the line.
func requestedVisitor(ctx *fasthttp.RequestCtx) string {
	id := ctx.Request.Header.Peek(headerVisitor)
	// Ids of invitations' places are the proxy's to give (lanes.go).
	if len(id) >= 16 && queue.ValidVisitor(string(id)) && !bytes.HasPrefix(id, []byte(invitedPrefix)) {
		return string(id)
	}
	return ""
}

// laneOf is the lane index of ticket t's number, for joining again in the
// same lane.
func (ev *event) laneOf(t queue.Ticket) int {
	if s := ev.line(); s.Lanes != nil && t.Seq != 0 {
		return s.Lanes.Lane(t.Seq)
	}
	return max(ev.lanes.open, 0)
}

// join gives the visitor (a new one when visitor is "") a place in lane of
// ev's line and sets the ticket cookie. Joining is idempotent per visitor
// in the store.
func (p *Proxy) join(ctx *fasthttp.RequestCtx, ev *event, now time.Time, visitor string, lane int) visit {
	if visitor == "" {
		visitor = queue.NewVisitorID()
	}
	sctx, cancel := context.WithTimeout(context.Background(), p.cfg.StoreTimeout)
	defer cancel()
	seed := ev.seed()
	seed.Lane = max(lane, 0)
	entry, err := p.store.Join(sctx, ev.cfg.Name, visitor, seed)
	if errors.Is(err, queue.ErrSoldOut) {
		return visit{soldOut: true, line: ev.line()}
	}
	if err != nil {
		ev.em.joinErrors.Inc()
		p.m.storeErrors.WithLabelValues("join").Inc()
		p.log.Warn("join failed", "event", ev.cfg.Name, "err", err)
		return visit{joinError: err, line: ev.line()}
	}
	if entry.Existing {
		ev.em.joinsExisting.Inc()
	} else {
		ev.em.joinsNew.Inc()
	}
	ev.observe(entry.State)
	v := visit{
		ticket: queue.Ticket{Event: ev.cfg.Name, Visitor: visitor, Seq: entry.Seq, Epoch: entry.State.Epoch, IssuedAt: now},
		line:   ev.line(),
	}
	v.signed = p.tickets.Append(nil, v.ticket)
	v.standing, v.position = v.line.Place(v.ticket)
	p.setCookie(ctx, ev.cookieTicket, v.signed, ticketMaxAge)
	if v.standing == queue.Turn {
		return p.admit(ctx, ev, v, now)
	}
	return v
}

// admit claims the turn of a visitor whose turn has come, issues the
// admission token and sets it as a cookie for browsers. A turn that is over
// (abandoned, or its session ended) gets a new place at the tail.
func (p *Proxy) admit(ctx *fasthttp.RequestCtx, ev *event, v visit, now time.Time) visit {
	if !p.claim(ev, &v) {
		if v.turnOver {
			ev.em.turnsOver.Inc()
			nv := p.join(ctx, ev, now, v.ticket.Visitor, ev.laneOf(v.ticket))
			if nv.joinError == nil && !nv.soldOut {
				nv.notice = noticeTurnExpired
			}
			return nv
		}
		return v
	}
	if p.issueToken(ev, &v, now) {
		p.setCookie(ctx, ev.cookieAdmission, []byte(v.token), ev.cfg.SessionDuration)
	}
	return v
}

// issueToken sets v.token to a new admission token and reports whether it
// could. Streams use it directly: their headers are gone by then, so no
// cookie can be set.
func (p *Proxy) issueToken(ev *event, v *visit, now time.Time) bool {
	tok, _, err := p.tokens.IssueFor(v.ticket.Visitor, ev.cfg.Name, now, ev.cfg.SessionDuration)
	if err != nil {
		// A key set that cannot sign is a configuration error New rejects;
		// keep the visitor waiting rather than failing the request.
		p.log.Error("issuing admission token", "event", ev.cfg.Name, "err", err)
		v.standing, v.position = queue.Waiting, 1
		return false
	}
	v.token = tok
	ev.em.admissions.Inc()
	return true
}

// serveStatus answers with the status document of the request's place.
func (p *Proxy) serveStatus(ctx *fasthttp.RequestCtx, ev *event, now time.Time, mayJoin bool) {
	v, ok := p.place(ctx, ev, now, mayJoin, false)
	if !ok {
		return
	}
	if v.joinError != nil {
		writeError(ctx, fasthttp.StatusServiceUnavailable, "store_unavailable", "the line cannot take new places right now; retry in a few seconds")
		ctx.Response.Header.Set(fasthttp.HeaderRetryAfter, "2")
		return
	}
	ctx.Response.Header.SetContentType("application/json")
	ctx.Response.Header.Set(fasthttp.HeaderCacheControl, "no-store")
	var redirect []byte
	if v.token != "" {
		redirect = returnTo(ctx, ev)
	}
	// Write into the response's pooled body buffer: no allocation per poll.
	b := ctx.Response.SwapBody(nil)
	ctx.Response.SwapBody(p.appendStatus(b[:0], ev, &v, redirect))
}

// returnTo is where an admitted visitor should go: the return_to query
// parameter of the API routes if it is a local path, the requested URI on an
// event's own routes, else the event's path prefix.
func returnTo(ctx *fasthttp.RequestCtx, ev *event) []byte {
	if !bytes.HasPrefix(ctx.Path(), []byte(reservedPrefix)) {
		return ctx.RequestURI()
	}
	if r := ctx.QueryArgs().Peek("return_to"); localPath(r) {
		return r
	}
	return []byte(ev.cfg.PathPrefix)
}

// localPath reports whether r is a path on this site: it starts with one
// slash (not "//", which browsers read as another host) and has no
// backslash or control character.
func localPath(r []byte) bool {
	if len(r) == 0 || r[0] != '/' || (len(r) > 1 && (r[1] == '/' || r[1] == '\\')) || len(r) > 2048 {
		return false
	}
	for _, c := range r {
		if c < 0x20 || c == 0x7f || c == '\\' {
			return false
		}
	}
	return true
}

// stateName is the status document's state of v.
func stateName(v *visit) string {
	switch {
	case v.token != "":
		return "admitted"
	case v.closed:
		return "closed"
	case v.soldOut || v.line.Control.SoldOut:
		return "sold_out"
	case v.standing == queue.Pre:
		return "prequeue"
	case v.line.Control.Paused:
		return "paused"
	}
	return "waiting"
}

// Notice codes of the status document: why the estimate may have grown.
const (
	noticePaused      = "paused"
	noticeRateLowered = "rate_lowered"
)

// noticeOf is the notice code of a line for a visitor still waiting, or ""
// when there is none. Whether the rate fell since a given fan's previous
// poll is not knowable without per-fan state, so rate_lowered says that the
// rate in force is below the event's configured one, or that the observed
// rate fell well below its recent level (estimate.go): either way, waits
// are growing.
func noticeOf(ev *event, s queue.State) string {
	switch {
	case s.Control.Paused:
		return noticePaused
	case s.Control.RatePerSecond < ev.cfg.RatePerSecond, ev.est.falling():
		return noticeRateLowered
	}
	return ""
}

// refreshAfter is how long a client should wait before polling again:
// sooner when its turn is near, with ±20% jitter so that clients that joined
// together do not poll together.
func refreshAfter(eta time.Duration, known bool) time.Duration {
	d := 5 * time.Second
	if known {
		d = min(max(eta/4, time.Second), 10*time.Second)
	}
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// appendStatus appends the status document of v to dst.
func (p *Proxy) appendStatus(dst []byte, ev *event, v *visit, redirect []byte) []byte {
	dst = append(dst, `{"event":`...)
	dst = appendJSONString(dst, ev.cfg.Name)
	dst = append(dst, `,"state":`...)
	state := stateName(v)
	dst = appendJSONString(dst, state)
	dst = append(dst, `,"serving":`...)
	dst = strconv.AppendUint(dst, v.line.Serving, 10)
	switch state {
	case "admitted":
		dst = append(dst, `,"admission_token":`...)
		dst = appendJSONString(dst, v.token)
		dst = append(dst, `,"redirect":`...)
		dst = appendJSONString(dst, redirect)
	case "closed", "sold_out", "prequeue":
		dst = p.appendUnnumbered(dst, ev, v, state)
	default:
		dst = append(dst, `,"position":`...)
		dst = strconv.AppendUint(dst, v.position, 10)
		dst = append(dst, `,"ahead":`...)
		dst = strconv.AppendUint(dst, v.position-1, 10)
		w := ev.est.estimate(v.line, v.position) // estimate.go
		eta, known := w.Wait, w.Known
		dst = appendETA(dst, w)
		if name := ev.lanes.name(v.line, v.ticket.Seq); name != "" {
			dst = append(dst, `,"lane":`...)
			dst = appendJSONString(dst, name)
		}
		if n := cmp.Or(v.notice, noticeOf(ev, v.line)); n != "" {
			dst = append(dst, `,"notice":`...)
			dst = appendJSONString(dst, n)
		}
		dst = append(dst, `,"refresh_after_ms":`...)
		dst = strconv.AppendInt(dst, refreshAfter(eta, known).Milliseconds(), 10)
	}
	if len(v.signed) > 0 {
		dst = append(dst, `,"ticket":`...)
		dst = appendJSONString(dst, v.signed)
	}
	return append(dst, '}')
}

// appendUnnumbered appends the fields of the states without a position:
// closed (with opens_at before the line opens), sold_out, and prequeue
// (sale_starts_at and the member id under which the visitor is drawn).
func (p *Proxy) appendUnnumbered(dst []byte, ev *event, v *visit, state string) []byte {
	now := p.clock(time.Time{})
	var next time.Duration // how long until something changes
	switch state {
	case "closed":
		if t := ev.cfg.PrequeueOpensAt; !t.IsZero() && now.Before(t) {
			dst = append(dst, `,"opens_at":`...)
			dst = appendTime(dst, t)
			next = t.Sub(now)
		} else {
			next = time.Minute
		}
	case "sold_out":
		// An operator may reopen the sale if seats come back.
		next = 30 * time.Second
	case "prequeue":
		dst = append(dst, `,"sale_starts_at":`...)
		dst = appendTime(dst, ev.cfg.SaleStartsAt)
		dst = append(dst, `,"member":`...)
		dst = appendJSONString(dst, queue.MemberID(v.ticket.Visitor))
		next = ev.cfg.SaleStartsAt.Sub(now)
	}
	if n := v.notice; n != "" {
		dst = append(dst, `,"notice":`...)
		dst = appendJSONString(dst, n)
	}
	// Poll again when something changes, at most every 10 s and at least
	// every second, with the same ±20 % jitter as waiting fans.
	dst = append(dst, `,"refresh_after_ms":`...)
	return strconv.AppendInt(dst, refreshAfter(next, true).Milliseconds(), 10)
}

// appendTime appends t as a JSON string in RFC 3339, UTC.
func appendTime(dst []byte, t time.Time) []byte {
	dst = append(dst, '"')
	dst = t.UTC().AppendFormat(dst, time.RFC3339)
	return append(dst, '"')
}

// policyOf is the admission policy in force for a line.
func policyOf(s queue.State) admission.Policy {
	return admission.Policy{RatePerSecond: s.Control.RatePerSecond, Paused: s.Control.Paused}
}

// setCookie sets a host-only cookie for the whole site.
func (p *Proxy) setCookie(ctx *fasthttp.RequestCtx, name string, value []byte, maxAge time.Duration) {
	c := fasthttp.AcquireCookie()
	defer fasthttp.ReleaseCookie(c)
	c.SetKey(name)
	c.SetValueBytes(value)
	c.SetPath("/")
	c.SetMaxAge(int(maxAge / time.Second))
	c.SetHTTPOnly(true)
	c.SetSameSite(fasthttp.CookieSameSiteLaxMode)
	c.SetSecure(p.cfg.SecureCookies)
	ctx.Response.Header.SetCookie(c)
}

// clearCookie tells the browser to drop a cookie.
func (p *Proxy) clearCookie(ctx *fasthttp.RequestCtx, name string) {
	c := fasthttp.AcquireCookie()
	defer fasthttp.ReleaseCookie(c)
	c.SetKey(name)
	c.SetPath("/")
	c.SetMaxAge(-1)
	c.SetHTTPOnly(true)
	c.SetSameSite(fasthttp.CookieSameSiteLaxMode)
	c.SetSecure(p.cfg.SecureCookies)
	ctx.Response.Header.SetCookie(c)
}

// writeError answers with the JSON error body of the public contract.
func writeError(ctx *fasthttp.RequestCtx, status int, code, message string) {
	ctx.Response.Reset()
	ctx.SetStatusCode(status)
	ctx.Response.Header.SetContentType("application/json")
	ctx.Response.Header.Set(fasthttp.HeaderCacheControl, "no-store")
	b := append(ctx.Response.SwapBody(nil)[:0], `{"error":{"code":`...)
	b = appendJSONString(b, code)
	b = append(b, `,"message":`...)
	b = appendJSONString(b, message)
	ctx.Response.SwapBody(append(b, "}}\n"...))
}

func methodNotAllowed(ctx *fasthttp.RequestCtx, allow string) {
	writeError(ctx, fasthttp.StatusMethodNotAllowed, "method_not_allowed", "use "+allow)
	ctx.Response.Header.Set(fasthttp.HeaderAllow, allow)
}

// appendJSONString appends s as a JSON string. <, > and & are escaped too,
// so the result can be embedded in a <script> element.
func appendJSONString[S string | []byte](dst []byte, s S) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20 || c == '<' || c == '>' || c == '&':
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}
