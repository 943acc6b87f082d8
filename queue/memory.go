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

	// auxMu guards seeds and leads. It is never held with another lock.
	auxMu sync.Mutex
	seeds map[string][]byte // event → draw seed
	// journals holds each event's journal, oldest first.
	journals map[string][][]byte
	leads    map[string]memoryLead // event + "\x00" + role → lead
}

// memoryLead is who leads a role and until when (store time, µs).
type memoryLead struct {
	holder  string
	untilUS int64
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
	// sessions maps a visitor with an active session to its expiry, and
	// pending a turn granted under a cap and not yet claimed to its claim
	// deadline (store time, µs). abandonedSeqs holds the turns abandoned.
	sessions      map[string]int64
	pending       map[uint64]int64
	abandonedSeqs map[uint64]struct{}
	// members maps the member ids of the pre-queue to their visitors; late
	// holds, in arrival order, the visitors who joined after the start
	// and before the draw (lateSet the same, for lookups).
	members map[string]string
	late    []string
	lateSet map[string]struct{}
	// drawDoc is the published draw, once applied.
	drawDoc []byte
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty memory store timed by now (time.Now if nil).
func NewMemory(now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{now: now, lines: make(map[string]*memoryLine),
		seeds: make(map[string][]byte), leads: make(map[string]memoryLead), journals: make(map[string][][]byte)}
}

func newMemoryLine(l line) *memoryLine {
	return &memoryLine{
		line: l, visitors: make(map[string]uint64),
		sessions: make(map[string]int64), pending: make(map[uint64]int64),
		abandonedSeqs: make(map[uint64]struct{}),
		members:       make(map[string]string), lateSet: make(map[string]struct{}),
	}
}

// lock returns event's line, created from seed if missing, locked, and the
// store time read under its lock (so steps of one line see time in order).
func (m *Memory) lock(event string, seed Seed) (*memoryLine, int64) {
	for {
		m.mu.Lock()
		l := m.lines[event]
		if l == nil {
			l = newMemoryLine(newLine(m.now().UnixMicro(), seed))
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
		return Entry{Seq: seq, Existing: true, State: l.state(now)}, nil
	}
	if l.line.preUS != 0 {
		return l.joinPrequeue(now, visitor)
	}
	if l.line.control.SoldOut {
		return Entry{}, ErrSoldOut
	}
	if l.line.serving >= l.line.tail {
		// Settle an empty line first, so the time it stood empty
		// does not admit the newcomer at once.
		l.settle(now)
	}
	seq, err := l.line.take(seed.Lane)
	if err != nil {
		return Entry{}, err
	}
	l.visitors[strings.Clone(visitor)] = seq // visitor may alias a request buffer
	return Entry{Seq: seq, State: l.state(now)}, nil
}

// joinPrequeue puts visitor in the pre-queue before the start, or behind
// it after the start, until the draw.
func (l *memoryLine) joinPrequeue(now int64, visitor string) (Entry, error) {
	member := MemberID(visitor)
	_, inPre := l.members[member]
	_, inLate := l.lateSet[visitor]
	if inPre || inLate {
		return Entry{Existing: true, Pre: true, State: l.state(now)}, nil
	}
	if l.line.control.SoldOut {
		return Entry{}, ErrSoldOut
	}
	visitor = strings.Clone(visitor) // visitor may alias a request buffer
	if now < l.line.preUS {
		l.members[member] = visitor
	} else {
		l.late = append(l.late, visitor)
		l.lateSet[visitor] = struct{}{}
	}
	return Entry{Pre: true, State: l.state(now)}, nil
}

// Advance implements Store.
func (m *Memory) Advance(_ context.Context, event string, seed Seed) (State, error) {
	if err := validCall(event, seed); err != nil {
		return State{}, err
	}
	l, now := m.lock(event, seed)
	defer l.mu.Unlock()
	l.settle(now)
	return l.state(now), nil
}

// SetControl implements Store.
func (m *Memory) SetControl(_ context.Context, event string, c Control, seed Seed) (State, error) {
	return m.setControl(event, nil, c, seed)
}

// SwapControl implements Store.
func (m *Memory) SwapControl(_ context.Context, event string, old, c Control, seed Seed) (State, error) {
	return m.setControl(event, &old, c, seed)
}

// setControl is SetControl, or SwapControl when old is not nil.
func (m *Memory) setControl(event string, old *Control, c Control, seed Seed) (State, error) {
	if err := validCall(event, seed); err != nil {
		return State{}, err
	}
	if err := validControl(c); err != nil {
		return State{}, err
	}
	l, now := m.lock(event, seed)
	defer l.mu.Unlock()
	if old != nil && l.line.control != *old {
		return State{}, ErrControlChanged
	}
	l.settle(now)
	l.line.control = c
	return l.state(now), nil
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
	m.auxMu.Lock()
	defer m.auxMu.Unlock()
	delete(m.seeds, event)
	delete(m.journals, event)
	for k := range m.leads {
		if strings.HasPrefix(k, event+"\x00") {
			delete(m.leads, k)
		}
	}
}

// Ping implements Store; a memory store always answers.
func (m *Memory) Ping(context.Context) error { return nil }

// Close implements Store. It does nothing: the lines go with the process.
func (m *Memory) Close() error { return nil }
