package proxy

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// Audit outcomes: what became of a change an operator asked for.
const (
	auditApplied  = "applied"  // saved in the store
	auditRejected = "rejected" // bad request (4xx): nothing changed
	auditFailed   = "failed"   // the store did not save it (5xx): nothing changed
)

// auditCapacity is how many entries the per-process audit ring keeps.
const auditCapacity = 1000

// maxActorLen bounds the actor name taken from X-Foyer-Actor, in runes.
const maxActorLen = 64

// AuditEntry records one change an operator asked for through the admin API:
// who asked (a self-declared actor name and the network address), when, on
// which event, what was to change, and what became of it.
type AuditEntry struct {
	// Proxy names the proxy process that served the change; with ID it
	// identifies the entry across proxies.
	Proxy string `json:"proxy"`
	// ID numbers the entries of this process from 1.
	ID uint64 `json:"id"`
	// At is when the request was answered.
	At time.Time `json:"at"`
	// Actor is the X-Foyer-Actor header, or "anonymous". Anyone holding the
	// admin token may claim any name: it says who, not that it was them.
	Actor string `json:"actor"`
	// RemoteAddr is the caller's address as the admin listener saw it.
	RemoteAddr string `json:"remote_addr"`
	// Event is the event named in the request path.
	Event string `json:"event"`
	// Changes lists the fields the request named, with their value before
	// and the value asked for. A request whose body did not parse has none.
	Changes []AuditChange `json:"changes"`
	// Outcome is "applied", "rejected" (bad request, nothing changed) or
	// "failed" (the store did not save it, nothing changed).
	Outcome string `json:"outcome"`
	// Status is the HTTP status the request was answered with.
	Status int `json:"status"`
	// Error is the error message of a rejected or failed request.
	Error string `json:"error,omitempty"`
}

// AuditChange is one field of an audited change.
type AuditChange struct {
	Field  string `json:"field"`
	Before any    `json:"before"`
	After  any    `json:"after"`
}

// summary renders the changes as "rate_per_second: 40 → 80, state: open →
// paused" for the log line.
func (e AuditEntry) summary() string {
	parts := make([]string, 0, len(e.Changes))
	for _, c := range e.Changes {
		parts = append(parts, fmt.Sprintf("%s: %v → %v", c.Field, c.Before, c.After))
	}
	return strings.Join(parts, ", ")
}

// auditLog is the per-process ring of the latest audit entries. It is safe
// for concurrent use. The ring is what the console shows; the durable record
// is the log line each entry is also written as.
type auditLog struct {
	mu      sync.Mutex // guards entries, next and lastID
	entries []AuditEntry
	next    int // index of the slot the next entry goes to, once full
	lastID  uint64
}

func newAuditLog(capacity int) *auditLog {
	return &auditLog{entries: make([]AuditEntry, 0, capacity)}
}

// record numbers e, keeps it in the ring (dropping the oldest when full) and
// writes it to log as one line.
func (a *auditLog) record(log *slog.Logger, e AuditEntry) AuditEntry {
	a.mu.Lock()
	a.lastID++
	e.ID = a.lastID
	if len(a.entries) < cap(a.entries) {
		a.entries = append(a.entries, e)
	} else {
		a.entries[a.next] = e
		a.next = (a.next + 1) % len(a.entries)
	}
	a.mu.Unlock()

	level := slog.LevelInfo
	if e.Outcome != auditApplied {
		level = slog.LevelWarn
	}
	attrs := []slog.Attr{
		slog.Uint64("audit_id", e.ID),
		slog.String("actor", e.Actor),
		slog.String("remote_addr", e.RemoteAddr),
		slog.String("event", e.Event),
		slog.String("outcome", e.Outcome),
		slog.Int("status", e.Status),
		slog.String("changes", e.summary()),
	}
	for _, c := range e.Changes {
		attrs = append(attrs, slog.Group(c.Field, slog.Any("before", c.Before), slog.Any("after", c.After)))
	}
	if e.Error != "" {
		attrs = append(attrs, slog.String("error", e.Error))
	}
	// Not the request's context: the entry is logged even when the caller
	// has gone.
	log.LogAttrs(context.Background(), level, "admin change", attrs...)
	return e
}

// list returns up to limit entries, newest first, of event (all events when
// event is empty).
func (a *auditLog) list(event string, limit int) []AuditEntry {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]AuditEntry, 0, min(limit, len(a.entries)))
	n := len(a.entries)
	for i := range n {
		// Newest first: the slot before next, going backwards.
		e := a.entries[(a.next-1-i+2*n)%n]
		if event != "" && e.Event != event {
			continue
		}
		if len(out) == limit {
			break
		}
		out = append(out, e)
	}
	return out
}

// actorName returns the actor of an admin request: the X-Foyer-Actor header
// cut to maxActorLen runes with control characters and invalid UTF-8
// removed (it ends up in logs and the console), or "anonymous".
func actorName(header string) string {
	var b strings.Builder
	n := 0
	for _, r := range strings.TrimSpace(header) {
		if n == maxActorLen {
			break
		}
		if r == utf8.RuneError || unicode.IsControl(r) {
			continue
		}
		b.WriteRune(r)
		n++
	}
	if s := strings.TrimSpace(b.String()); s != "" {
		return s
	}
	return "anonymous"
}

// recordAudit records e in this process's ring and log, and in the store's
// journal of its event, so that every proxy's console shows it.
func (p *Proxy) recordAudit(ctx context.Context, e AuditEntry) {
	e.Proxy = p.id
	e = p.admin().audit.record(p.log, e)
	if _, ok := p.byName[e.Event]; !ok {
		return // an unknown event has no journal
	}
	b, err := json.Marshal(e)
	if err != nil {
		p.log.Error("encoding an audit entry", "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.cfg.StoreTimeout)
	defer cancel()
	if err := p.store.Record(ctx, e.Event, b, auditCapacity); err != nil {
		p.m.storeErrors.WithLabelValues("journal").Inc()
		p.log.Warn("audit entry kept on this proxy only: the store did not record it", "event", e.Event, "audit_id", e.ID, "err", err)
	}
}

// sharedAudit returns the newest limit entries of the store's journals of
// event (or of every event), newest first.
func (p *Proxy) sharedAudit(ctx context.Context, event string, limit int) ([]AuditEntry, error) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.StoreTimeout)
	defer cancel()
	var out []AuditEntry
	for _, ev := range p.events {
		if event != "" && ev.cfg.Name != event {
			continue
		}
		raw, err := p.store.Journal(ctx, ev.cfg.Name, limit)
		if err != nil {
			return nil, err
		}
		for _, b := range raw {
			var e AuditEntry
			if json.Unmarshal(b, &e) == nil {
				out = append(out, e)
			}
		}
	}
	if event == "" {
		// Attempts on events that do not exist have no journal: this
		// process's own are shown with the rest.
		for _, e := range p.admin().audit.list("", auditCapacity) {
			if _, ok := p.byName[e.Event]; !ok {
				out = append(out, e)
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.After(out[j].At) })
	if len(out) > limit {
		out = out[:limit]
	}
	if out == nil {
		out = []AuditEntry{}
	}
	return out, nil
}
