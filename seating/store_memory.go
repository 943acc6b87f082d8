package seating

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
)

// MemoryOptions configures a memory store. The zero value is ready to use.
type MemoryOptions struct {
	// Now is the store's clock. Default time.Now. Expiry is decided in
	// whole milliseconds of it.
	Now func() time.Time
	// LogSize is how many seat changes each stand's change log keeps.
	// Default DefaultChangeLogSize.
	LogSize int
}

// Memory is a Store that keeps seat state in the process's memory: the
// embedded default, for one seating process. It has the same semantics as
// the Redis store, step for step (both run standLedger's logic), with the
// injected clock as the store's clock.
//
// Memory is safe for concurrent use. Its zero value is not usable; call
// NewMemory or NewMemoryWithOptions.
type Memory struct {
	now     func() time.Time
	logSize int

	// mu guards stands (the map, not the stands in it). Lock order: mu
	// before any memoryStoreStand.mu.
	mu     sync.Mutex
	stands map[memoryStoreKey]*memoryStoreStand
}

// memoryStoreKey names one stand of one event.
type memoryStoreKey struct{ event, stand string }

// memoryStoreStand is one stand of a memory store.
type memoryStoreStand struct {
	// mu guards st.
	mu sync.Mutex
	st *standLedger
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty memory store timed by now (time.Now if nil).
func NewMemory(now func() time.Time) *Memory {
	return NewMemoryWithOptions(MemoryOptions{Now: now})
}

// NewMemoryWithOptions returns an empty memory store configured by opts.
func NewMemoryWithOptions(opts MemoryOptions) *Memory {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.LogSize <= 0 {
		opts.LogSize = DefaultChangeLogSize
	}
	return &Memory{now: opts.Now, logSize: opts.LogSize, stands: make(map[memoryStoreKey]*memoryStoreStand)}
}

// lock returns event's stand locked and the store time in ms read under
// its lock (so steps of one stand see time in order), or ErrNotPrepared.
func (m *Memory) lock(event, stand string) (*memoryStoreStand, int64, error) {
	m.mu.Lock()
	s := m.stands[memoryStoreKey{event, stand}]
	m.mu.Unlock()
	if s == nil {
		return nil, 0, fmt.Errorf("%w: event %s, stand %s", ErrNotPrepared, event, stand)
	}
	s.mu.Lock()
	return s, m.now().UnixMilli(), nil
}

// Prepare implements Store.
func (m *Memory) Prepare(_ context.Context, event string, stands []StandLayout) error {
	if err := storeCheckLayouts(event, stands); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, l := range stands {
		k := memoryStoreKey{strings.Clone(event), strings.Clone(l.ID)}
		if s := m.stands[k]; s != nil {
			s.mu.Lock()
			err := storeSameShape(s.st.n, s.st.tierCount, l)
			s.mu.Unlock()
			if err != nil {
				return err
			}
			continue
		}
		m.stands[k] = &memoryStoreStand{st: newStandLedger(l, m.logSize)}
	}
	return nil
}

// storeSameShape checks that an existing stand of n seats and tiers tiers is
// the one layout l describes: Prepare never resets a stand, and refuses a
// layout that would not fit the state kept.
func storeSameShape(n, tiers int, l StandLayout) error {
	if n != len(l.Tiers) || tiers != l.TierCount {
		return storeInvalid("stand %s exists with %d seats and %d tiers; the layout has %d and %d",
			l.ID, n, tiers, len(l.Tiers), l.TierCount)
	}
	return nil
}

// Hold implements Store.
func (m *Memory) Hold(_ context.Context, event, stand string, req HoldRequest) (Hold, error) {
	seats, err := storeCheckHold(event, stand, req)
	if err != nil {
		return Hold{}, err
	}
	s, now, err := m.lock(event, stand)
	if err != nil {
		return Hold{}, err
	}
	defer s.mu.Unlock()
	req.Owner = strings.Clone(req.Owner) // may alias a request buffer
	req.Key = strings.Clone(req.Key)
	return s.st.hold(now, storeNewHoldID(s.st.id), req, seats)
}

// Extend implements Store.
func (m *Memory) Extend(_ context.Context, event, holdID, owner string, ttl, maxTotal time.Duration) (Hold, error) {
	stand, err := storeCheckHoldCall(event, holdID, owner)
	if err != nil {
		return Hold{}, err
	}
	if err := storeCheckTTL("ttl", ttl); err != nil {
		return Hold{}, err
	}
	if err := storeCheckTTL("max total", maxTotal); err != nil {
		return Hold{}, err
	}
	s, now, err := m.lock(event, stand)
	if err != nil {
		return Hold{}, err
	}
	defer s.mu.Unlock()
	return s.st.extend(now, holdID, owner, ttl.Milliseconds(), maxTotal.Milliseconds())
}

// Release implements Store.
func (m *Memory) Release(_ context.Context, event, holdID, owner string) (uint64, error) {
	stand, err := storeCheckHoldCall(event, holdID, owner)
	if err != nil {
		return 0, err
	}
	s, _, err := m.lock(event, stand)
	if err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	return s.st.release(holdID, owner)
}

// Confirm implements Store.
func (m *Memory) Confirm(_ context.Context, event, holdID, owner string) (Hold, error) {
	stand, err := storeCheckHoldCall(event, holdID, owner)
	if err != nil {
		return Hold{}, err
	}
	s, now, err := m.lock(event, stand)
	if err != nil {
		return Hold{}, err
	}
	defer s.mu.Unlock()
	return s.st.confirm(now, holdID, owner)
}

// Snapshot implements Store.
func (m *Memory) Snapshot(_ context.Context, event, stand string) (StandSnapshot, error) {
	if err := storeCheckStand(event, stand); err != nil {
		return StandSnapshot{}, err
	}
	s, now, err := m.lock(event, stand)
	if err != nil {
		return StandSnapshot{}, err
	}
	defer s.mu.Unlock()
	return s.st.snapshot(now), nil
}

// Changes implements Store.
func (m *Memory) Changes(_ context.Context, event, stand string, since uint64) ([]Change, uint64, bool, error) {
	if err := storeCheckStand(event, stand); err != nil {
		return nil, 0, false, err
	}
	s, _, err := m.lock(event, stand)
	if err != nil {
		return nil, 0, false, err
	}
	defer s.mu.Unlock()
	changes, v, ok := s.st.changes(since)
	return changes, v, ok, nil
}

// Dump returns everything the store keeps of a stand, for tests and
// operators checking invariants. It sweeps nothing.
func (m *Memory) Dump(_ context.Context, event, stand string) (StandDump, error) {
	if err := storeCheckStand(event, stand); err != nil {
		return StandDump{}, err
	}
	s, now, err := m.lock(event, stand)
	if err != nil {
		return StandDump{}, err
	}
	defer s.mu.Unlock()
	return s.st.dump(now), nil
}

// Ping implements Store; a memory store always answers.
func (m *Memory) Ping(context.Context) error { return nil }
