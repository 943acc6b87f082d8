package queue

import (
	"context"
	"strings"
	"time"
)

// This file is the memory store's part of the two limits (the rate and the
// active-session cap), its sessions and abandoned turns, the pre-queue draw
// and leads. The Redis scripts mirror it step for step: change one, change
// both.

// sweep ends the sessions expired at now and abandons the turns whose claim
// deadline passed, freeing their slots.
func (l *memoryLine) sweep(now int64) {
	for v, exp := range l.sessions {
		if exp <= now {
			delete(l.sessions, v)
		}
	}
	for seq, deadline := range l.pending {
		if deadline <= now {
			delete(l.pending, seq)
			l.abandonedSeqs[seq] = struct{}{}
			l.line.abandoned++
		}
	}
}

// settle sweeps, then advances the serving counter within the free slots of
// the cap, and records the turns it granted under a cap as pending.
func (l *memoryLine) settle(now int64) {
	l.sweep(now)
	budget := uint64(noCap)
	c := l.line.control
	if c.MaxActive > 0 {
		used := uint64(len(l.sessions) + len(l.pending))
		budget = uint64(c.MaxActive) - min(used, uint64(c.MaxActive))
	}
	from, to := l.line.settle(now, budget)
	if c.MaxActive > 0 && to > from {
		deadline := now + c.claimWindow().Microseconds()
		lanes := l.line.lanes()
		for seq := from + 1; seq <= to; seq++ {
			// Numbers of a lane above its last were never issued.
			if lanes == nil || seq <= lanes.Last[lanes.Lane(seq)] {
				l.pending[seq] = deadline
			}
		}
	}
}

// state is the line's State with its counts.
func (l *memoryLine) state(now int64) State {
	s := l.line.state(now)
	s.Active, s.Pending = uint64(len(l.sessions)), uint64(len(l.pending))
	s.Members, s.Late = uint64(len(l.members)), uint64(len(l.late))
	return s
}

// Claim implements Store.
func (m *Memory) Claim(_ context.Context, event string, t Ticket, seed Seed) (State, error) {
	if err := validCall(event, seed); err != nil {
		return State{}, err
	}
	if !ValidVisitor(t.Visitor) {
		return State{}, ErrInvalidVisitor
	}
	l, now := m.lock(event, seed)
	defer l.mu.Unlock()
	l.sweep(now)
	c := l.line.control
	ttl := c.sessionTTL().Microseconds()
	if _, ok := l.sessions[t.Visitor]; ok {
		l.sessions[t.Visitor] = now + ttl
		return l.state(now), nil
	}
	if c.SoldOut {
		return State{}, ErrSoldOut
	}
	if l.line.preUS != 0 {
		return State{}, ErrNotTurn
	}
	switch st, _ := l.line.state(now).Place(t); st {
	case Pre, Waiting:
		return State{}, ErrNotTurn
	case Lost:
		return State{}, ErrTurnOver
	}
	if t.Epoch == l.line.epoch && l.visitors[t.Visitor] != t.Seq {
		return State{}, ErrTurnOver
	}
	if _, ok := l.pending[t.Seq]; ok {
		delete(l.pending, t.Seq)
	} else if _, ok := l.abandonedSeqs[t.Seq]; ok {
		delete(l.visitors, t.Visitor)
		return State{}, ErrTurnOver
	}
	// A turn not pending was granted without a cap (or before one was
	// set): it is claimed as it stands.
	l.sessions[strings.Clone(t.Visitor)] = now + ttl
	return l.state(now), nil
}

// EndSession implements Store.
func (m *Memory) EndSession(_ context.Context, event, visitor string, seed Seed) (State, error) {
	if err := validCall(event, seed); err != nil {
		return State{}, err
	}
	if !ValidVisitor(visitor) {
		return State{}, ErrInvalidVisitor
	}
	l, now := m.lock(event, seed)
	defer l.mu.Unlock()
	delete(l.sessions, visitor)
	delete(l.visitors, visitor)
	l.sweep(now)
	return l.state(now), nil
}

// DrawSeed implements Store.
func (m *Memory) DrawSeed(_ context.Context, event string, candidate []byte) ([]byte, error) {
	if !ValidEvent(event) {
		return nil, ErrInvalidEvent
	}
	if len(candidate) != DrawSeedSize {
		return nil, ErrDrawMalformed
	}
	m.auxMu.Lock()
	defer m.auxMu.Unlock()
	if s, ok := m.seeds[event]; ok {
		return append([]byte(nil), s...), nil
	}
	m.seeds[strings.Clone(event)] = append([]byte(nil), candidate...)
	return append([]byte(nil), candidate...), nil
}

// Prequeue implements Store.
func (m *Memory) Prequeue(_ context.Context, event string, seed Seed) ([]string, State, error) {
	if err := validCall(event, seed); err != nil {
		return nil, State{}, err
	}
	l, now := m.lock(event, seed)
	defer l.mu.Unlock()
	if l.line.preUS == 0 {
		return nil, l.state(now), nil
	}
	if now < l.line.preUS {
		return nil, State{}, ErrNotStarted
	}
	members := make([]string, 0, len(l.members))
	for id := range l.members {
		members = append(members, id)
	}
	return members, l.state(now), nil
}

// ApplyDraw implements Store.
func (m *Memory) ApplyDraw(_ context.Context, event string, order []string, doc []byte, seed Seed) (State, error) {
	if err := validCall(event, seed); err != nil {
		return State{}, err
	}
	l, now := m.lock(event, seed)
	defer l.mu.Unlock()
	if l.line.preUS == 0 {
		return l.state(now), nil
	}
	if now < l.line.preUS {
		return State{}, ErrNotStarted
	}
	if len(order) != len(l.members) {
		return State{}, ErrDrawMismatch
	}
	seen := make(map[string]struct{}, len(order))
	for _, id := range order {
		if _, ok := l.members[id]; !ok {
			return State{}, ErrDrawMismatch
		}
		if _, dup := seen[id]; dup {
			return State{}, ErrDrawMismatch
		}
		seen[id] = struct{}{}
	}
	for _, id := range order {
		l.line.tail++
		l.visitors[l.members[id]] = l.line.tail
	}
	for _, v := range l.late {
		l.line.tail++
		l.visitors[v] = l.line.tail
	}
	l.members, l.late, l.lateSet = map[string]string{}, nil, map[string]struct{}{}
	l.line.preUS, l.line.lastUS, l.line.frac = 0, now, 0
	l.drawDoc = append([]byte(nil), doc...)
	return l.state(now), nil
}

// DrawDocument implements Store.
func (m *Memory) DrawDocument(_ context.Context, event string) ([]byte, error) {
	if !ValidEvent(event) {
		return nil, ErrInvalidEvent
	}
	m.mu.Lock()
	l := m.lines[event]
	m.mu.Unlock()
	if l == nil {
		return nil, ErrNoDraw
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.drawDoc == nil {
		return nil, ErrNoDraw
	}
	return append([]byte(nil), l.drawDoc...), nil
}

// Record implements Store.
func (m *Memory) Record(_ context.Context, event string, entry []byte, max int) error {
	if err := validRecord(event, entry, max); err != nil {
		return err
	}
	m.auxMu.Lock()
	defer m.auxMu.Unlock()
	j := append(m.journals[event], append([]byte(nil), entry...))
	if len(j) > max {
		j = append(j[:0:0], j[len(j)-max:]...)
	}
	m.journals[strings.Clone(event)] = j
	return nil
}

// Journal implements Store.
func (m *Memory) Journal(_ context.Context, event string, n int) ([][]byte, error) {
	if !ValidEvent(event) {
		return nil, ErrInvalidEvent
	}
	m.auxMu.Lock()
	defer m.auxMu.Unlock()
	j := m.journals[event]
	out := make([][]byte, 0, min(max(n, 0), len(j)))
	for i := len(j) - 1; i >= 0 && len(out) < n; i-- {
		out = append(out, append([]byte(nil), j[i]...))
	}
	return out, nil
}

// Lead implements Store.
func (m *Memory) Lead(_ context.Context, event, role, holder string, ttl time.Duration) (bool, error) {
	if err := validLead(event, role, holder, ttl); err != nil {
		return false, err
	}
	now := m.now().UnixMicro()
	key := event + "\x00" + role
	m.auxMu.Lock()
	defer m.auxMu.Unlock()
	if cur, ok := m.leads[key]; ok && cur.untilUS > now && cur.holder != holder {
		return false, nil
	}
	m.leads[key] = memoryLead{holder: holder, untilUS: now + ttl.Microseconds()}
	return true, nil
}
