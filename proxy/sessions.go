package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/foyerhq/foyer/admission"
	"github.com/foyerhq/foyer/queue"
)

// This file is the proxy's side of the two limits and of the pre-queue:
// claiming a turn before its admission token is issued, renewing sessions,
// ending them when the origin says so, and running the draw at the sale
// start.

// headerSession is the response header by which an origin ends the
// visitor's session ("Foyer-Session: end"), e.g. after a checkout: the slot
// goes to the next visitor at once. The proxy removes it from the response.
const headerSession = "Foyer-Session"

// headerAdmissionToken carries a renewed admission token to apps, which
// send theirs as a bearer token rather than a cookie.
const headerAdmissionToken = "Foyer-Admission-Token"

// errSessionEnded rejects the admission token of a session this proxy saw
// ended.
var errSessionEnded = errors.New("proxy: session ended")

// admissionReason is the metric label and message of an admission token
// rejection.
func admissionReason(err error) string {
	if errors.Is(err, errSessionEnded) {
		return "session_ended"
	}
	return admission.Reason(err)
}

// eventSessions is the per-event runtime of sessions and of the draw. It is
// safe for concurrent use.
type eventSessions struct {
	// endedN counts the entries of ended, so that the gate of a proxy that
	// ended no session pays one atomic load.
	endedN atomic.Int64
	// endedMu guards endedAt: the visitors whose session this process ended,
	// until their last token would have expired.
	endedMu sync.Mutex
	endedAt map[string]time.Time

	// published is what GET …/draw answers: the commitment to the seed
	// once the pre-queue is open, the commitment to the membership once it
	// has closed, the draw once applied. Each is immutable once published.
	published atomic.Pointer[drawDoc]
}

// drawDoc is a published stage of the draw.
type drawDoc struct {
	stage drawStage
	body  []byte
}

// The stages of a draw, in order.
type drawStage int

const (
	stageNone drawStage = iota
	stageSeed
	stageMembers
	stageDrawn
)

// publish publishes a later stage of the draw; an earlier one (a slow
// refresh) is ignored.
func (s *eventSessions) publish(stage drawStage, body []byte) {
	for {
		cur := s.published.Load()
		if cur != nil && cur.stage >= stage {
			return
		}
		if s.published.CompareAndSwap(cur, &drawDoc{stage: stage, body: body}) {
			return
		}
	}
}

func (s *eventSessions) stage() drawStage {
	if d := s.published.Load(); d != nil {
		return d.stage
	}
	return stageNone
}

// ended reports whether this process ended visitor's session.
func (s *eventSessions) ended(visitor string, now time.Time) bool {
	if s.endedN.Load() == 0 {
		return false
	}
	s.endedMu.Lock()
	defer s.endedMu.Unlock()
	until, ok := s.endedAt[visitor]
	return ok && now.Before(until)
}

// end records that visitor's session ended, until until.
func (s *eventSessions) end(visitor string, now, until time.Time) {
	s.endedMu.Lock()
	defer s.endedMu.Unlock()
	if s.endedAt == nil {
		s.endedAt = map[string]time.Time{}
	}
	for v, u := range s.endedAt {
		if !now.Before(u) {
			delete(s.endedAt, v)
		}
	}
	s.endedAt[strings.Clone(visitor)] = until
	s.endedN.Store(int64(len(s.endedAt)))
}

// claim claims v's turn in the store before an admission token is issued,
// so that the active-session cap counts it. It reports whether the token
// may be issued; when not, it has set v to what the visitor sees instead:
// sold out, or a turn that is over (the caller joins again). A store that
// cannot be reached admits: positions already issued stay valid.
func (p *Proxy) claim(ev *event, v *visit) bool {
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.StoreTimeout)
	defer cancel()
	st, err := p.store.Claim(ctx, ev.cfg.Name, v.ticket, ev.seed())
	switch {
	case err == nil:
		ev.observe(st)
		return true
	case errors.Is(err, queue.ErrSoldOut):
		v.soldOut = true
	case errors.Is(err, queue.ErrTurnOver):
		v.turnOver = true
	case errors.Is(err, queue.ErrNotTurn):
		// The cache ran ahead of the store (another store after a
		// failover): the visitor is next.
		v.standing, v.position = queue.Waiting, 1
	default:
		p.m.storeErrors.WithLabelValues("claim").Inc()
		p.log.Warn("claim failed; admitting without it", "event", ev.cfg.Name, "err", err)
		return true
	}
	return false
}

// renew gives an active visitor a fresh admission token once half of the
// current one's lifetime has passed, until Event.SessionMax after the
// session began, and renews the session in the store (in the background:
// the visitor's request does not wait for it).
func (p *Proxy) renew(ctx *fasthttp.RequestCtx, ev *event, c *admission.Claims, fromCookie bool, now time.Time) {
	cfg := &ev.cfg
	if cfg.NoRenewal || now.Sub(c.IssuedAt) < cfg.SessionDuration/2 {
		return
	}
	end := c.SessionStart.Add(cfg.SessionMax)
	ttl := min(cfg.SessionDuration, end.Sub(now))
	if ttl <= c.ExpiresAt.Sub(now)+time.Second {
		return // the session is at its maximum: no longer token to give
	}
	tok, nc, err := p.tokens.IssueRenewal(c.Visitor, cfg.Name, now, c.SessionStart, ttl)
	if err != nil {
		p.log.Error("renewing admission token", "event", cfg.Name, "err", err)
		return
	}
	ev.em.renewals.Inc()
	// forward replaces the response: endIfAsked sets the token on it.
	ctx.SetUserValue(headerAdmissionToken, tok)
	t := queue.Ticket{Event: cfg.Name, Visitor: nc.Visitor}
	go func() {
		sctx, cancel := context.WithTimeout(context.Background(), p.cfg.StoreTimeout)
		defer cancel()
		// A renewal is a claim of a live session; a session the store
		// no longer has (expired, ended elsewhere) is not revived by it.
		if _, err := p.store.Claim(sctx, cfg.Name, t, ev.seed()); err != nil && !errors.Is(err, queue.ErrNotTurn) {
			p.log.Debug("session renewal not recorded", "event", cfg.Name, "err", err)
		}
	}()
}

// endIfAsked ends the visitor's session when the origin's response says
// "Foyer-Session: end": the header is removed, the admission cookie cleared,
// this process refuses the visitor's tokens from now on, and the store frees
// the slot (in the background, within the store timeout). It also passes a
// renewed token to apps.
func (p *Proxy) endIfAsked(ctx *fasthttp.RequestCtx, ev *event, visitor string, fromCookie bool, now time.Time) {
	resp := &ctx.Response
	if tok, ok := ctx.UserValue(headerAdmissionToken).(string); ok {
		if fromCookie {
			p.setCookie(ctx, ev.cookieAdmission, []byte(tok), ev.cfg.SessionDuration)
		} else {
			resp.Header.Set(headerAdmissionToken, tok)
		}
	}
	h := resp.Header.Peek(headerSession)
	if len(h) == 0 {
		return
	}
	end := asciiEqualFold(h, "end")
	resp.Header.Del(headerSession)
	if !end {
		return
	}
	ev.sess.end(visitor, now, now.Add(ev.cfg.SessionMax))
	ev.em.sessionsEnded.Inc()
	if fromCookie {
		p.clearCookie(ctx, ev.cookieAdmission)
	}
	visitor = strings.Clone(visitor) // visitor aliases the request
	go func() {
		sctx, cancel := context.WithTimeout(context.Background(), p.cfg.StoreTimeout)
		defer cancel()
		st, err := p.store.EndSession(sctx, ev.cfg.Name, visitor, ev.seed())
		if err != nil {
			p.m.storeErrors.WithLabelValues("end_session").Inc()
			p.log.Warn("ending session", "event", ev.cfg.Name, "err", err)
			return
		}
		ev.observe(st)
	}()
}

// schedule runs the event's schedule from the refresh loop: it commits to
// the draw's seed once the pre-queue is open, to the membership once the
// pre-queue has closed (Event.PrequeueClosesBefore the start), draws the
// pre-queue at the sale start, and fetches the published draw once it
// exists. Every proxy may do each step, and publishes the same documents:
// the store keeps the first seed, freezes the membership and applies the
// draw once.
func (p *Proxy) schedule(ctx context.Context, ev *event) {
	cfg := &ev.cfg
	if cfg.SaleStartsAt.IsZero() {
		return
	}
	now := p.clock(time.Time{})
	if !cfg.PrequeueOpensAt.IsZero() && now.Before(cfg.PrequeueOpensAt) {
		return
	}
	line := ev.line()
	stage := ev.sess.stage()
	if stage < stageSeed && line.Prequeue {
		c, err := queue.CommitSeed(ctx, p.store, cfg.Name)
		if err != nil {
			p.log.Warn("committing to the draw's seed", "event", cfg.Name, "err", err)
			return
		}
		ev.sess.publish(stageSeed, drawJSON(struct {
			State string `json:"state"`
			queue.SeedCommitment
			PrequeueClosesAt time.Time `json:"prequeue_closes_at"`
			SaleStartsAt     time.Time `json:"sale_starts_at"`
		}{"seed_committed", c, ev.prequeueClosesAt().UTC(), cfg.SaleStartsAt.UTC()}))
		p.log.Info("draw seed committed", "event", cfg.Name, "seed_hash", c.SeedHash)
	}
	if stage < stageMembers && line.Prequeue && !now.Before(ev.prequeueClosesAt()) {
		// A large pre-queue takes a while to read.
		dctx, cancel := context.WithTimeout(ctx, 10*p.cfg.StoreTimeout)
		c, ok, err := queue.CommitMembers(dctx, p.store, cfg.Name, ev.seed())
		cancel()
		switch {
		case errors.Is(err, queue.ErrNotStarted):
			return // the store's clock is behind ours: next refresh
		case err != nil:
			p.log.Warn("committing to the pre-queue's membership", "event", cfg.Name, "err", err)
			return
		case ok:
			ev.sess.publish(stageMembers, drawJSON(struct {
				State string `json:"state"`
				queue.Commitment
				SaleStartsAt time.Time `json:"sale_starts_at"`
			}{"committed", c, cfg.SaleStartsAt.UTC()}))
			p.log.Info("pre-queue closed and committed", "event", cfg.Name, "members", c.Members,
				"seed_hash", c.SeedHash, "members_hash", c.MembersHash)
		}
	}
	switch {
	case line.Prequeue && !now.Before(cfg.SaleStartsAt):
		// A large pre-queue takes a while to read and number.
		dctx, cancel := context.WithTimeout(ctx, 10*p.cfg.StoreTimeout)
		defer cancel()
		st, d, err := queue.RunDraw(dctx, p.store, cfg.Name, ev.seed())
		if errors.Is(err, queue.ErrNotStarted) {
			return
		}
		if err != nil {
			p.m.storeErrors.WithLabelValues("draw").Inc()
			p.log.Error("drawing the pre-queue", "event", cfg.Name, "err", err)
			return
		}
		ev.observe(st)
		if d.Order != nil {
			p.log.Info("pre-queue drawn", "event", cfg.Name, "members", len(d.Order), "late", st.Late,
				"seed_hash", d.SeedHash, "members_hash", d.MembersHash)
		}
	case !line.Prequeue && stage < stageDrawn:
		doc, err := p.store.DrawDocument(ctx, cfg.Name)
		if err != nil {
			if !errors.Is(err, queue.ErrNoDraw) {
				p.log.Warn("reading the published draw", "event", cfg.Name, "err", err)
			}
			return
		}
		ev.sess.publish(stageDrawn, doc)
	}
}

// drawJSON encodes a published stage of the draw.
func drawJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("proxy: encoding a draw document: %v", err)) // plain structs always encode
	}
	return b
}

// prequeueClosesAt is when ev's pre-queue closes: its membership is frozen
// and committed to, and later arrivals queue behind it. Zero without a
// pre-queue.
func (ev *event) prequeueClosesAt() time.Time {
	if ev.cfg.SaleStartsAt.IsZero() {
		return time.Time{}
	}
	return ev.cfg.SaleStartsAt.Add(-ev.cfg.PrequeueClosesBefore)
}

// serveDraw answers GET /_foyer/v1/events/{event}/draw with the latest
// published stage of the pre-queue draw (see schedule): the commitment to
// the seed, the commitment to the membership, then the draw itself (check
// it with foyer lottery verify); 404 for an event without a pre-queue or
// whose pre-queue is not open yet.
func (p *Proxy) serveDraw(ctx *fasthttp.RequestCtx, ev *event) {
	d := ev.sess.published.Load()
	if d == nil {
		writeError(ctx, fasthttp.StatusNotFound, "no_draw", "this event has no pre-queue draw, or its pre-queue is not open yet")
		return
	}
	ctx.Response.Header.SetContentType("application/json")
	if d.stage == stageDrawn {
		// A draw never changes once published.
		ctx.Response.Header.Set(fasthttp.HeaderCacheControl, "public, max-age=3600")
	} else {
		ctx.Response.Header.Set(fasthttp.HeaderCacheControl, "no-store")
	}
	ctx.SetBody(d.body)
}
