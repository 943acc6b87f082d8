package seating

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// authority is what the stand cache needs of the authoritative store. Store
// satisfies it.
type authority interface {
	Snapshot(ctx context.Context, event, stand string) (StandSnapshot, error)
}

// Defaults of CacheConfig.
const (
	defaultCacheInterval    = time.Second
	defaultCachePassThrough = 0.01
	// defaultLeaseIntervals is the default lock lease in intervals.
	defaultLeaseIntervals = 2
	// defaultRetryFraction is the default retry pause as a fraction of the
	// interval.
	defaultRetryFraction = 10
	// warmParallelism bounds the stands Warm loads at once.
	warmParallelism = 8
)

// CacheConfig configures a StandCache. The zero value is ready to use.
type CacheConfig struct {
	// Interval is how often a stand's authoritative state is read, at most,
	// across all seating processes sharing one shared layer: a published
	// snapshot younger than Interval is served as is. Default 1s.
	Interval time.Duration
	// LockLease is how long the global refresh lock of a stand is held at
	// most. It bounds both how long a holder that died mid-refresh delays
	// the next refresh and how long a holder waits for the authoritative
	// store (a read that takes longer is abandoned). It should be well above
	// the time a snapshot read takes. Default 2×Interval.
	LockLease time.Duration
	// PassThrough is the share of reads that skip the process-local copy
	// and read the published copy, bounding the staleness one process can
	// serve when its own refreshes lag. 0 means the default 0.01; a negative
	// value turns pass-through off; 1 makes every read a shared read.
	PassThrough float64
	// RetryInterval is the pause before a process asks the shared layer
	// again when another process holds the lock and the published copy is
	// old: the holder is expected to publish soon. Default Interval/10.
	RetryInterval time.Duration
}

// withDefaults fills in the defaults of zero fields.
func (c CacheConfig) withDefaults() CacheConfig {
	if c.Interval == 0 {
		c.Interval = defaultCacheInterval
	}
	if c.LockLease == 0 {
		c.LockLease = defaultLeaseIntervals * c.Interval
	}
	if c.PassThrough == 0 {
		c.PassThrough = defaultCachePassThrough
	}
	if c.RetryInterval == 0 {
		c.RetryInterval = max(c.Interval/defaultRetryFraction, time.Millisecond)
	}
	return c
}

// Validate reports the first field that is out of range.
func (c CacheConfig) Validate() error {
	switch {
	case c.Interval < 0:
		return fmt.Errorf("seating: cache interval %v is negative", c.Interval)
	case c.LockLease < 0:
		return fmt.Errorf("seating: cache lock lease %v is negative", c.LockLease)
	case c.LockLease > 0 && c.LockLease < time.Millisecond:
		return fmt.Errorf("seating: cache lock lease %v is under 1ms (Redis leases are whole ms)", c.LockLease)
	case math.IsNaN(c.PassThrough) || c.PassThrough > 1:
		return fmt.Errorf("seating: cache pass-through %v is not a share between 0 and 1", c.PassThrough)
	case c.RetryInterval < 0:
		return fmt.Errorf("seating: cache retry interval %v is negative", c.RetryInterval)
	}
	if d := c.withDefaults(); d.RetryInterval > d.Interval {
		return fmt.Errorf("seating: cache retry interval %v is longer than the interval %v", d.RetryInterval, d.Interval)
	}
	return nil
}

// Sources of a StandView.
const (
	// SourceProcess: the process-local copy.
	SourceProcess = "process"
	// SourceShared: the copy published in the shared layer, read for this
	// call.
	SourceShared = "shared"
	// SourceAuthority: the authoritative store, read for this call.
	SourceAuthority = "authority"
)

// StandView is a stand's snapshot as the cache serves it.
type StandView struct {
	// Snapshot is the stand's state. Its slices are shared with other
	// readers and must not be modified.
	Snapshot StandSnapshot
	// Stale is true when the snapshot is older than a working refresh would
	// ever leave it: this process's last refresh failed, or no process
	// refreshed it for Interval+LockLease. It is then the last good
	// snapshot, served rather than nothing.
	Stale bool
	// Age is how long ago the snapshot was read from the authoritative
	// store, by the clock of the process that read it.
	Age time.Duration
	// Source says where this call found the snapshot: SourceProcess,
	// SourceShared or SourceAuthority.
	Source string
}

// StandCache serves stands' snapshots (the seat map) without touching the
// authoritative store per request, and remembers seats known taken so holds
// of them can be refused early. It is the Damai design:
//
//   - Each process keeps a copy of every stand it serves. A copy younger
//     than Interval is served as is; an older one is still served while one
//     goroutine per stand refreshes it in the background, so requests do
//     not wait on the network once a stand is loaded (see Get for the
//     exceptions).
//   - A refresh reads the copy published in the shared layer. When that is
//     older than Interval too, the process tries the stand's global lock;
//     only the holder reads the authoritative store, publishes what it read
//     with its fencing token and unlocks, so a stand is read at most once
//     per Interval across all processes. The others keep what was published
//     and look again after RetryInterval.
//   - When a refresh fails, the last good snapshot is served, marked stale.
//     A holder whose read failed keeps the lock until its lease ends, so a
//     failing store is retried once per lease, not by every process at once.
//     When the shared layer itself fails, each process reads the
//     authoritative store on its own, once per Interval.
//
// Caches may only say no: no cache or snapshot ever grants a hold; holds
// are decided by the authoritative store alone.
//
// Ages and freshness are judged by the clock given to NewStandCache;
// timeouts and retry pauses use real time. Clock skew between processes
// shortens or lengthens the effective interval by the skew.
//
// StandCache is safe for concurrent use.
type StandCache struct {
	cfg        CacheConfig
	staleAfter time.Duration
	auth       authority
	shared     Shared
	now        func() time.Time
	m          *cacheMetrics

	// stands is the index of entries, replaced whole on change so readers
	// need no lock.
	stands atomic.Pointer[cacheIndex]
	// mu serialises changes of stands.
	mu sync.Mutex

	// bgMu guards closed and every bg.Add. A standEntry's mu may be held
	// when taking it, never the other way round.
	bgMu   sync.Mutex
	closed bool
	bg     sync.WaitGroup
}

// cacheIndex maps event → stand → entry.
type cacheIndex map[string]map[string]*standEntry

// standEntry is what a process keeps of one stand.
type standEntry struct {
	event, stand string

	// cur is the current copy, nil until the first load; replaced whole.
	cur atomic.Pointer[standCopy]
	// refreshing mirrors flight != nil, for the hot path.
	refreshing atomic.Bool

	// mu guards flight and notes.
	mu     sync.Mutex
	flight *refreshFlight
	// notes are seats a hold conflict or a sale reported taken, with when.
	notes map[int]time.Time
}

// standCopy is one immutable version of a stand's process-local copy.
type standCopy struct {
	snap StandSnapshot
	// publishedAt is when snap was read from the authoritative store.
	publishedAt time.Time
	// notBefore delays the next refresh after a busy lock or a failure.
	notBefore time.Time
	// failed is true when a refresh failed since snap was installed.
	failed bool
}

// refreshFlight is one refresh of a stand; done is closed when it ends,
// after which source and err are set.
type refreshFlight struct {
	done   chan struct{}
	source string
	err    error
}

// errCacheClosed is returned by loads after Close.
var errCacheClosed = errors.New("seating: stand cache closed")

// NewStandCache returns a cache of the stands of auth (the authoritative
// store), sharing published snapshots and refresh locks with other
// processes through shared. Its metrics are registered with reg unless reg
// is nil; caches sharing one registry share the metrics. now is the clock
// of ages and freshness (nil means time.Now).
func NewStandCache(cfg CacheConfig, auth authority, shared Shared, reg prometheus.Registerer, now func() time.Time) (*StandCache, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if auth == nil || shared == nil {
		return nil, errors.New("seating: stand cache needs an authoritative store and a shared layer")
	}
	if now == nil {
		now = time.Now
	}
	cfg = cfg.withDefaults()
	m, err := newCacheMetrics(reg)
	if err != nil {
		return nil, err
	}
	c := &StandCache{cfg: cfg, staleAfter: cfg.Interval + cfg.LockLease, auth: auth, shared: shared, now: now, m: m}
	c.stands.Store(&cacheIndex{})
	return c, nil
}

// Get returns the stand's snapshot. Once the stand is loaded it answers
// from the process-local copy without waiting on the network (except for
// the PassThrough share of calls), starting a background refresh when the
// copy is due. Two cases wait for the refresh, bounded by ctx: the first
// read of a stand, and a read of a copy nobody asked for so long that it
// is older than Interval+LockLease (an idle stand, not a failing store).
// It returns an error only when no snapshot of the stand was ever loaded
// and loading one failed (wrapping ErrUnavailable when the failure is
// transient) or ctx ended first.
func (c *StandCache) Get(ctx context.Context, event, stand string) (StandView, error) {
	e := c.lookup(event, stand)
	if e == nil {
		if event == "" || stand == "" {
			return StandView{}, fmt.Errorf("%w: empty event or stand", ErrInvalid)
		}
		e = c.entry(event, stand)
	}
	cp := e.cur.Load()
	if cp == nil {
		return c.await(ctx, e, nil)
	}
	now := c.now()
	if c.due(cp, now) {
		if !cp.failed && now.Sub(cp.publishedAt) >= c.staleAfter {
			return c.await(ctx, e, cp)
		}
		if !e.refreshing.Load() {
			c.startRefresh(e)
		}
	}
	if c.cfg.PassThrough > 0 && rand.Float64() < c.cfg.PassThrough {
		if v, ok := c.passThrough(ctx, e, now); ok {
			return v, nil
		}
	}
	c.m.processHits.Inc()
	return c.view(cp, now, SourceProcess), nil
}

// Warm loads every stand's snapshot, publishing it when the published copy
// is old, and loads the shared layer's scripts, so the first fans of an
// on-sale find the caches ready. A stand whose copy is fresh is left
// alone. It returns the errors joined.
func (c *StandCache) Warm(ctx context.Context, event string, stands []string) error {
	if l, ok := c.shared.(interface{ LoadScripts(context.Context) error }); ok {
		if err := l.LoadScripts(ctx); err != nil {
			return fmt.Errorf("seating: warming event %q: %w", event, err)
		}
	}
	errs := make([]error, len(stands))
	sem := make(chan struct{}, warmParallelism)
	var wg sync.WaitGroup
	for i, st := range stands {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			errs[i] = c.warm(ctx, event, st)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (c *StandCache) warm(ctx context.Context, event, stand string) error {
	if event == "" || stand == "" {
		return fmt.Errorf("%w: empty event or stand", ErrInvalid)
	}
	e := c.entry(event, stand)
	if cp := e.cur.Load(); cp != nil && !cp.failed && c.now().Sub(cp.publishedAt) < c.cfg.Interval {
		return nil
	}
	f := c.startRefresh(e)
	if f == nil {
		return errCacheClosed
	}
	select {
	case <-f.done:
	case <-ctx.Done():
		return fmt.Errorf("seating: warming stand %q of event %q: %w: %w", stand, event, ErrUnavailable, ctx.Err())
	}
	if f.err != nil {
		return fmt.Errorf("seating: warming stand %q of event %q: %w", stand, event, f.err)
	}
	return nil
}

// KnownTaken returns the seats among seats that this process knows are not
// free, to refuse a hold of them without asking the store: seats the latest
// snapshot shows sold or blocked, seats it shows held if it is younger than
// Interval, and seats noted taken (NoteTaken) after it was read, for at
// most Interval. It never reports a seat the latest snapshot shows free
// unless a conflict reported it taken since.
//
// Caches may only say no. A seat wrongly believed free just goes to the
// store, which decides; a seat wrongly believed taken is at most one
// Interval of staleness for held seats, and never for sold ones, since
// sold is final.
func (c *StandCache) KnownTaken(event, stand string, seats []int) []int {
	e := c.lookup(event, stand)
	if e == nil || len(seats) == 0 {
		return nil
	}
	now := c.now()
	var status []byte
	var readAt time.Time
	heldKnown := false
	if cp := e.cur.Load(); cp != nil {
		status, readAt = cp.snap.Status, cp.publishedAt
		heldKnown = now.Sub(readAt) < c.cfg.Interval
	}
	var taken []int
	e.mu.Lock()
	for _, s := range seats {
		if s >= 0 && s/4 < len(status) {
			switch st := cacheSeatStatus(status, s); {
			case st == Sold || st == Blocked, st == Held && heldKnown:
				taken = append(taken, s)
				continue
			}
		}
		if at, ok := e.notes[s]; ok && now.Sub(at) < c.cfg.Interval && (status == nil || at.After(readAt)) {
			taken = append(taken, s)
		}
	}
	e.mu.Unlock()
	if len(taken) > 0 {
		c.m.rejections.Inc()
	}
	return taken
}

// NoteTaken records seats a hold conflict or a sale just reported taken.
// KnownTaken reports them until a snapshot read after this call replaces
// the current one, for at most Interval.
func (c *StandCache) NoteTaken(event, stand string, seats []int) {
	if len(seats) == 0 || event == "" || stand == "" {
		return
	}
	e := c.lookup(event, stand)
	if e == nil {
		e = c.entry(event, stand)
	}
	now := c.now()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.notes == nil {
		e.notes = make(map[int]time.Time, len(seats))
	}
	if len(e.notes) >= 64 {
		for s, at := range e.notes {
			if now.Sub(at) >= c.cfg.Interval {
				delete(e.notes, s)
			}
		}
	}
	for _, s := range seats {
		e.notes[s] = now
	}
}

// Close waits for background refreshes to end. Get keeps serving loaded
// copies after Close but starts no refresh; loading a stand fails.
func (c *StandCache) Close() {
	c.bgMu.Lock()
	c.closed = true
	c.bgMu.Unlock()
	c.bg.Wait()
}

// cacheSeatStatus reads seat i's two bits of a packed status.
func cacheSeatStatus(b []byte, i int) Status {
	return Status(b[i/4]>>(6-2*(i%4))) & 3
}

// lookup returns the stand's entry, or nil.
func (c *StandCache) lookup(event, stand string) *standEntry {
	return (*c.stands.Load())[event][stand]
}

// entry returns the stand's entry, creating it.
func (c *StandCache) entry(event, stand string) *standEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := (*c.stands.Load())[event][stand]; e != nil {
		return e
	}
	e := &standEntry{event: event, stand: stand}
	c.editIndex(event, func(m map[string]*standEntry) { m[stand] = e })
	return e
}

// remove drops e from the index, so names that never loaded (a stand
// that does not exist) do not accumulate.
func (c *StandCache) remove(e *standEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if (*c.stands.Load())[e.event][e.stand] == e {
		c.editIndex(e.event, func(m map[string]*standEntry) { delete(m, e.stand) })
	}
}

// editIndex replaces the index by a copy whose map of event's stands edit
// changed. c.mu must be held.
func (c *StandCache) editIndex(event string, edit func(map[string]*standEntry)) {
	idx := maps.Clone(*c.stands.Load())
	m := maps.Clone(idx[event])
	if m == nil {
		m = make(map[string]*standEntry)
	}
	edit(m)
	if len(m) == 0 {
		delete(idx, event)
	} else {
		idx[event] = m
	}
	c.stands.Store(&idx)
}

// due reports whether cp should be refreshed at now.
func (c *StandCache) due(cp *standCopy, now time.Time) bool {
	return now.Sub(cp.publishedAt) >= c.cfg.Interval && !now.Before(cp.notBefore)
}

// view returns cp as served at now.
func (c *StandCache) view(cp *standCopy, now time.Time, source string) StandView {
	age := max(now.Sub(cp.publishedAt), 0)
	stale := cp.failed || age >= c.staleAfter
	if stale {
		c.m.staleServed.Inc()
	}
	return StandView{Snapshot: cp.snap, Stale: stale, Age: age, Source: source}
}

// await waits for a refresh of e. old is the copy to serve if ctx ends
// first; with none, the call fails.
func (c *StandCache) await(ctx context.Context, e *standEntry, old *standCopy) (StandView, error) {
	f := c.startRefresh(e)
	if f == nil && old == nil {
		return StandView{}, errCacheClosed
	}
	finished := false // f's results may be read
	if f != nil {
		select {
		case <-f.done:
			finished = true
		case <-ctx.Done():
			if old == nil {
				return StandView{}, fmt.Errorf("seating: loading stand %q of event %q: %w: %w", e.stand, e.event, ErrUnavailable, ctx.Err())
			}
		}
	}
	cp := e.cur.Load()
	if cp == nil { // only after f finished: old is nil
		if f.err == nil {
			return StandView{}, fmt.Errorf("seating: loading stand %q of event %q: %w", e.stand, e.event, ErrUnavailable)
		}
		return StandView{}, f.err
	}
	source := SourceProcess
	if finished && cp != old && f.source != "" {
		source = f.source
	} else {
		c.m.processHits.Inc()
	}
	return c.view(cp, c.now(), source), nil
}

// passThrough serves a read from the published copy, adopting it when it
// is newer than the process's. ok is false when the shared layer has
// nothing or failed; the caller then serves the local copy.
func (c *StandCache) passThrough(ctx context.Context, e *standEntry, now time.Time) (StandView, bool) {
	p, ok, err := c.shared.Published(ctx, e.event, e.stand)
	if err != nil || !ok {
		return StandView{}, false
	}
	cp := e.adopt(p.Snapshot, p.PublishedAt)
	source := SourceProcess
	// The shared layer keeps publication times in whole milliseconds.
	if cp.snap.Version == p.Snapshot.Version && cp.publishedAt.UnixMilli() == p.PublishedAt.UnixMilli() {
		source = SourceShared
		c.m.sharedHits.Inc()
	} else {
		c.m.processHits.Inc()
	}
	return c.view(cp, now, source), true
}

// startRefresh starts a background refresh of e unless one runs, and
// returns it; nil after Close.
func (c *StandCache) startRefresh(e *standEntry) *refreshFlight {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.flight != nil {
		return e.flight
	}
	c.bgMu.Lock()
	closed := c.closed
	if !closed {
		c.bg.Add(1)
	}
	c.bgMu.Unlock()
	if closed {
		return nil
	}
	f := &refreshFlight{done: make(chan struct{})}
	e.flight = f
	e.refreshing.Store(true)
	go c.runRefresh(e, f)
	return f
}

func (c *StandCache) runRefresh(e *standEntry, f *refreshFlight) {
	defer c.bg.Done()
	source, err := c.refresh(context.Background(), e)
	if e.cur.Load() == nil {
		c.remove(e)
	}
	e.mu.Lock()
	f.source, f.err = source, err
	e.flight = nil
	e.refreshing.Store(false)
	e.mu.Unlock()
	close(f.done)
}

// refresh brings e's copy up to date, once, or for a stand with no copy
// yet until it has one or gives up: after 2×LockLease+Interval, any holder
// that died has lost its lease and been replaced.
func (c *StandCache) refresh(ctx context.Context, e *standEntry) (string, error) {
	deadline := time.Now().Add(2*c.cfg.LockLease + c.cfg.Interval)
	for {
		source, busy, err := c.attempt(ctx, e)
		if cp := e.cur.Load(); cp != nil {
			// Whatever happened, do not look again before RetryInterval.
			if now := c.now(); c.due(cp, now) {
				e.backoff(now.Add(c.cfg.RetryInterval), false)
			}
			return source, err
		}
		if !busy {
			return source, err
		}
		if !time.Now().Add(c.cfg.RetryInterval).Before(deadline) {
			return "", fmt.Errorf("%w: stand %q of event %q: another process holds the refresh lock and published nothing", ErrUnavailable, e.stand, e.event)
		}
		t := time.NewTimer(c.cfg.RetryInterval)
		<-t.C
	}
}

// attempt is one refresh: the published copy if fresh, else the lock and,
// for the holder, the authoritative store. busy means another process holds
// the lock. Each step has its own timeout of LockLease: a holder that
// overran its lease still tries to publish, and the fence, not its clock,
// decides whether that is still welcome.
func (c *StandCache) attempt(ctx context.Context, e *standEntry) (source string, busy bool, err error) {
	now := c.now()
	p, ok, err := c.published(ctx, e)
	if err != nil {
		return c.direct(ctx, e, now, err)
	}
	if ok && now.Sub(p.PublishedAt) < c.cfg.Interval {
		e.adopt(p.Snapshot, p.PublishedAt)
		c.m.sharedHits.Inc()
		return SourceShared, false, nil
	}
	fence, got, err := c.lock(ctx, e)
	switch {
	case err != nil:
		c.m.lockErrors.Inc()
		return c.direct(ctx, e, now, err)
	case !got:
		// The holder will publish soon; serve what is published meanwhile.
		c.m.lockBusy.Inc()
		if ok {
			e.adopt(p.Snapshot, p.PublishedAt)
			c.m.sharedHits.Inc()
		}
		e.backoff(now.Add(c.cfg.RetryInterval), false)
		if ok {
			return SourceShared, true, nil
		}
		return "", true, nil
	}
	c.m.lockAcquired.Inc()
	// Another holder may have published between our read and our lock.
	if p2, ok2, err := c.published(ctx, e); err == nil && ok2 && c.now().Sub(p2.PublishedAt) < c.cfg.Interval {
		c.unlock(ctx, e, fence)
		e.adopt(p2.Snapshot, p2.PublishedAt)
		c.m.sharedHits.Inc()
		return SourceShared, false, nil
	}
	snap, err := c.readAuthority(ctx, e)
	if err != nil {
		// Keep the lock until its lease ends: a failing store is then tried
		// once per lease across all processes.
		c.m.refreshFailed.Inc()
		e.backoff(now.Add(c.cfg.Interval), true)
		return "", false, err
	}
	pub := Publication{Snapshot: snap, PublishedAt: c.now(), Fence: fence}
	accepted, err := c.publish(ctx, e, pub)
	source = SourceAuthority
	switch {
	case err != nil:
		c.m.refreshUnpublished.Inc()
	case !accepted:
		// A later holder published: its copy is the one to serve.
		c.m.refreshRefused.Inc()
		if p3, ok3, err := c.published(ctx, e); err == nil && ok3 {
			if cp := e.adopt(p3.Snapshot, p3.PublishedAt); cp.publishedAt.Equal(p3.PublishedAt) {
				source = SourceShared
			}
		}
	default:
		c.m.refreshPublished.Inc()
	}
	e.adopt(snap, pub.PublishedAt)
	c.unlock(ctx, e, fence)
	return source, false, nil
}

// direct reads the authoritative store without the shared layer, which
// failed with cause.
func (c *StandCache) direct(ctx context.Context, e *standEntry, now time.Time, cause error) (string, bool, error) {
	snap, err := c.readAuthority(ctx, e)
	if err != nil {
		c.m.refreshFailed.Inc()
		e.backoff(now.Add(c.cfg.Interval), true)
		return "", false, fmt.Errorf("%w; the shared layer failed too: %w", err, cause)
	}
	c.m.refreshUnpublished.Inc()
	e.adopt(snap, c.now())
	return SourceAuthority, false, nil
}

// readAuthority reads the stand from the authoritative store within
// LockLease.
func (c *StandCache) readAuthority(ctx context.Context, e *standEntry) (StandSnapshot, error) {
	c.m.authorityReads.Inc()
	ctx, cancel := context.WithTimeout(ctx, c.cfg.LockLease)
	defer cancel()
	snap, err := c.auth.Snapshot(ctx, e.event, e.stand)
	if err != nil {
		if !errors.Is(err, ErrUnavailable) && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)) {
			err = fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		return StandSnapshot{}, fmt.Errorf("seating: reading stand %q of event %q: %w", e.stand, e.event, err)
	}
	if snap.Stand == "" {
		snap.Stand = e.stand
	}
	return snap, nil
}

// published reads the stand's publication within LockLease.
func (c *StandCache) published(ctx context.Context, e *standEntry) (Publication, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.LockLease)
	defer cancel()
	return c.shared.Published(ctx, e.event, e.stand)
}

// lock tries the stand's lock within LockLease.
func (c *StandCache) lock(ctx context.Context, e *standEntry) (uint64, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.LockLease)
	defer cancel()
	return c.shared.Lock(ctx, e.event, e.stand, c.cfg.LockLease)
}

// publish publishes p within LockLease.
func (c *StandCache) publish(ctx context.Context, e *standEntry, p Publication) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.LockLease)
	defer cancel()
	return c.shared.Publish(ctx, e.event, e.stand, p)
}

// unlock releases the lock; failing to is harmless, the lease ends it.
func (c *StandCache) unlock(ctx context.Context, e *standEntry, fence uint64) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.LockLease)
	defer cancel()
	c.shared.Unlock(ctx, e.event, e.stand, fence)
}

// adopt installs snap, read at readAt, unless the current copy is newer
// (a higher version, or the same version read later), and returns the
// copy now current. Installing clears the failure flag.
func (e *standEntry) adopt(snap StandSnapshot, readAt time.Time) *standCopy {
	for {
		old := e.cur.Load()
		if old != nil && (snap.Version < old.snap.Version ||
			snap.Version == old.snap.Version && !readAt.After(old.publishedAt)) {
			return old
		}
		n := &standCopy{snap: snap, publishedAt: readAt}
		if old != nil {
			n.notBefore = old.notBefore
		}
		if e.cur.CompareAndSwap(old, n) {
			return n
		}
	}
}

// backoff delays the next refresh of the current copy to until at least,
// marking it failed if failed.
func (e *standEntry) backoff(until time.Time, failed bool) {
	for {
		old := e.cur.Load()
		if old == nil {
			return
		}
		n := *old
		if until.After(n.notBefore) {
			n.notBefore = until
		}
		n.failed = n.failed || failed
		if e.cur.CompareAndSwap(old, &n) {
			return
		}
	}
}

// cacheMetrics are the stand cache's counters, safe for concurrent use.
type cacheMetrics struct {
	processHits, sharedHits                                             prometheus.Counter
	refreshPublished, refreshRefused, refreshFailed, refreshUnpublished prometheus.Counter
	lockAcquired, lockBusy, lockErrors                                  prometheus.Counter
	authorityReads, staleServed, rejections                             prometheus.Counter
}

func newCacheMetrics(reg prometheus.Registerer) (*cacheMetrics, error) {
	hits := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "foyer_seating_cache_hits_total",
		Help: "Stand snapshots served, by the level that had them: the process-local copy or the copy published in the shared layer.",
	}, []string{"level"})
	refreshes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "foyer_seating_cache_refreshes_total",
		Help: "Refreshes that read the authoritative store, by result: published, refused (a later lock holder had published), unpublished (the shared layer failed), failed.",
	}, []string{"result"})
	locks := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "foyer_seating_lock_acquisitions_total",
		Help: "Attempts to take a stand's global refresh lock, by result: acquired, busy (another process holds it), error.",
	}, []string{"result"})
	reads := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "foyer_seating_authority_reads_total",
		Help: "Reads of a stand's authoritative state by the stand cache.",
	})
	stale := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "foyer_seating_stale_snapshots_served_total",
		Help: "Stand snapshots served marked stale: the last refresh failed, or none succeeded for the interval plus the lock lease.",
	})
	rejections := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "foyer_seating_seat_cache_rejections_total",
		Help: "Hold requests the seat-level cache found seats of already taken, refused without asking the store.",
	})
	if reg != nil {
		var err error
		for _, v := range []**prometheus.CounterVec{&hits, &refreshes, &locks} {
			if *v, err = registerCacheCollector(reg, *v); err != nil {
				return nil, err
			}
		}
		for _, c := range []*prometheus.Counter{&reads, &stale, &rejections} {
			if *c, err = registerCacheCollector(reg, *c); err != nil {
				return nil, err
			}
		}
	}
	return &cacheMetrics{
		processHits:        hits.WithLabelValues("process"),
		sharedHits:         hits.WithLabelValues("shared"),
		refreshPublished:   refreshes.WithLabelValues("published"),
		refreshRefused:     refreshes.WithLabelValues("refused"),
		refreshFailed:      refreshes.WithLabelValues("failed"),
		refreshUnpublished: refreshes.WithLabelValues("unpublished"),
		lockAcquired:       locks.WithLabelValues("acquired"),
		lockBusy:           locks.WithLabelValues("busy"),
		lockErrors:         locks.WithLabelValues("error"),
		authorityReads:     reads,
		staleServed:        stale,
		rejections:         rejections,
	}, nil
}

// registerCacheCollector registers c with reg, or returns the collector
// already registered under its name, so several caches may share one
// registry.
func registerCacheCollector[T prometheus.Collector](reg prometheus.Registerer, c T) (T, error) {
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(T); ok {
			return existing, nil
		}
	}
	return c, fmt.Errorf("seating: registering stand cache metrics: %w", err)
}
