package admission

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"time"
)

// maxHealthLen bounds the seating health document ParseSeatingHealth reads:
// a few hundred events fit many times over.
const maxHealthLen = 1 << 20

// ParseSeatingHealth turns the seating core's health document (GET
// /seating/v1/health, described in docs/seating.md) into the seating part of
// a Signal for event. The caller sets At and the origin fields.
//
// Parsing is strict: the document must be one JSON object whose members
// "error_rate", "hold_latency_ms" (with "p99") and "events" are present with
// their exact names and types, rates within [0, 1], latencies and seat
// counts not negative, and no event listed twice. Other members are ignored,
// so the seating core may add some. When event is not listed, or its
// inventory comes from a stale snapshot ("stale": true, which may undercount
// seats), InventoryKnown is false: the health part still counts, but no cap
// or sold out is drawn from it.
func ParseSeatingHealth(b []byte, event string) (Signal, error) {
	if len(b) > maxHealthLen {
		return Signal{}, fmt.Errorf("admission: seating health is %d bytes, want at most %d", len(b), maxHealthLen)
	}
	doc, err := object(b, "seating health")
	if err != nil {
		return Signal{}, err
	}
	var s Signal
	if err := member(doc, "error_rate", "seating health", &s.HoldErrorRate); err != nil {
		return Signal{}, err
	}
	if !validShare(s.HoldErrorRate) {
		return Signal{}, fmt.Errorf("admission: seating health error_rate is %v, want between 0 and 1", s.HoldErrorRate)
	}
	raw, ok := doc["hold_latency_ms"]
	if !ok {
		return Signal{}, fmt.Errorf("admission: seating health has no hold_latency_ms")
	}
	lat, err := object(raw, "seating health hold_latency_ms")
	if err != nil {
		return Signal{}, err
	}
	var p99 float64
	if err := member(lat, "p99", "seating health hold_latency_ms", &p99); err != nil {
		return Signal{}, err
	}
	// 1e9 ms is 11 days: far beyond any timeout, and far within a Duration.
	if p99 < 0 || p99 > 1e9 {
		return Signal{}, fmt.Errorf("admission: seating health hold_latency_ms.p99 is %v, want between 0 and 1e9", p99)
	}
	s.HoldLatencyP99 = time.Duration(math.Round(p99 * float64(time.Millisecond)))

	var events []json.RawMessage
	if err := member(doc, "events", "seating health", &events); err != nil {
		return Signal{}, err
	}
	seen := make(map[string]bool, len(events))
	for i, raw := range events {
		where := fmt.Sprintf("seating health events[%d]", i)
		ev, err := object(raw, where)
		if err != nil {
			return Signal{}, err
		}
		var (
			name        string
			left, held  int
			sold        int
			stale       bool
			staleListed = ev["stale"] != nil
		)
		if err := member(ev, "event", where, &name); err != nil {
			return Signal{}, err
		}
		for _, f := range []struct {
			key string
			n   *int
		}{{"seats_left", &left}, {"seats_held", &held}, {"seats_sold", &sold}} {
			if err := member(ev, f.key, where, f.n); err != nil {
				return Signal{}, err
			}
			if *f.n < 0 {
				return Signal{}, fmt.Errorf("admission: %s.%s is %d, want at least 0", where, f.key, *f.n)
			}
		}
		if staleListed {
			if err := member(ev, "stale", where, &stale); err != nil {
				return Signal{}, err
			}
		}
		if seen[name] {
			return Signal{}, fmt.Errorf("admission: %s: event %q is listed twice", where, name)
		}
		seen[name] = true
		if name == event && !stale {
			s.SeatsLeft, s.SeatsHeld, s.InventoryKnown = left, held, true
		}
	}
	return s, nil
}

// object decodes b as exactly one JSON object, its members by exact name.
func object(b []byte, what string) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("admission: %s: %w", what, err)
	}
	if m == nil {
		return nil, fmt.Errorf("admission: %s is null, want an object", what)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("admission: %s: data after the object", what)
	}
	return m, nil
}

// member decodes the required member key of m into v.
func member(m map[string]json.RawMessage, key, what string, v any) error {
	raw, ok := m[key]
	if !ok {
		return fmt.Errorf("admission: %s has no %s", what, key)
	}
	if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return fmt.Errorf("admission: %s.%s is null", what, key)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("admission: %s.%s: %w", what, key, err)
	}
	return nil
}
