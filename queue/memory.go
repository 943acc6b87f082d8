package queue

import (
	"context"
	"strings"
	"sync"
	"time"
)

// Memory is a Store that keeps lines in the process's memory: the embedded
// default, for one proxy. It has the same semantics as the Redis store, step
// for step, with the injected clock as the store's clock.
//
// Memory is safe for concurrent use. Its zero value is not usable; call
// NewMemory.
type Memory struct {
	now func() time.Time

	// mu guards lines (the map, not the lines in it) and lastEpoch. Lock
	// order: mu before any memoryLine.mu.
	mu    sync.Mutex
	lines map[string]*memoryLine
	// lastEpoch is the newest epoch the store created: a line lost and
	// re-created within one tick of the clock still gets a newer epoch.
	lastEpoch uint64
}

// memoryLine is one event's line with its visitors.
type memoryLine struct {
	// mu guards every field below.
	mu sync.Mutex
	// dead marks a line dropped by Forget, for callers that found it in the
	// map just before.
	dead     bool
	line     line
	visitors map[string]uint64
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty memory store timed by now (time.Now if nil).
func NewMemory(now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{now: now, lines: make(map[string]*memoryLine)}
}

// lock returns event's line, created from seed if missing, locked, and the
// store time read under its lock (so steps of one line see time in order).
func (m *Memory) lock(event string, seed Seed) (*memoryLine, int64) {
	for {
		m.mu.Lock()
		l := m.lines[event]
		if l == nil {
			l = &memoryLine{line: newLine(m.now().UnixMicro(), seed), visitors: make(map[string]uint64)}
			if l.line.epoch <= m.lastEpoch {
				l.line.epoch = m.lastEpoch + 1
			}
			m.lastEpoch = l.line.epoch
			m.lines[strings.Clone(event)] = l // event may alias a request buffer
		}
		m.mu.Unlock()
		l.mu.Lock()
		if !l.dead {
			l.line.floor(seed)
			return l, m.now().UnixMicro()
		}
		l.mu.Unlock()
	}
}

// Join implements Store.
func (m *Memory) Join(_ context.Context, event, visitor string, seed Seed) (Entry, error) {
	if err := validCall(event, seed); err != nil {
		return Entry{}, err
	}
	if !ValidVisitor(visitor) {
		return Entry{}, ErrInvalidVisitor
	}
	l, now := m.lock(event, seed)
	defer l.mu.Unlock()
	if seq, ok := l.visitors[visitor]; ok {
		return Entry{Seq: seq, Existing: true, State: l.line.state(now)}, nil
	}
	if l.line.serving >= l.line.tail {
		// Settle an empty line first, so the time it stood empty
		// does not admit the newcomer at once.
		l.line.settle(now)
	}
	l.line.tail++
	l.visitors[strings.Clone(visitor)] = l.line.tail // visitor may alias a request buffer
	return Entry{Seq: l.line.tail, State: l.line.state(now)}, nil
}

// Advance implements Store.
func (m *Memory) Advance(_ context.Context, event string, seed Seed) (State, error) {
	if err := validCall(event, seed); err != nil {
		return State{}, err
	}
	l, now := m.lock(event, seed)
	defer l.mu.Unlock()
	l.line.settle(now)
	return l.line.state(now), nil
}

// SetControl implements Store.
func (m *Memory) SetControl(_ context.Context, event string, c Control, seed Seed) (State, error) {
	if err := validCall(event, seed); err != nil {
		return State{}, err
	}
	if err := validControl(c); err != nil {
		return State{}, err
	}
	l, now := m.lock(event, seed)
	defer l.mu.Unlock()
	l.line.settle(now)
	l.line.control = c
	return l.line.state(now), nil
}

// Forget drops event's line and its visitors, as a store that loses its
// state would. The next call re-creates the line from its seed.
func (m *Memory) Forget(event string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if l := m.lines[event]; l != nil {
		l.mu.Lock()
		l.dead = true
		l.mu.Unlock()
		delete(m.lines, event)
	}
}

// Ping implements Store; a memory store always answers.
func (m *Memory) Ping(context.Context) error { return nil }

// Close implements Store. It does nothing: the lines go with the process.
func (m *Memory) Close() error { return nil }
