package main

import (
	"context"
	"fmt"
	"time"

	"github.com/foyerhq/foyer/seating"
)

// capacityModel is a rehearsal's model of the core behind the seats. It is
// not a feature of Foyer: the in-process seating stores answer a hold in
// microseconds, so without it the seating service never becomes the
// bottleneck that admission exists to protect. A real core has a finite
// capacity — a database pool, a payment provider's pre-authorisation —
// which the model gives it: every hold occupies one of Workers slots for
// HoldCost, so the core sustains about Workers ÷ HoldCost holds per second,
// and holds beyond that wait for a slot (queueing latency) until the
// seating service's store timeout.
type capacityModel struct {
	// HoldCost is the service time of one hold. Zero turns the model off.
	HoldCost duration `yaml:"hold_cost"`
	// Workers is how many holds the core serves at once; required with
	// HoldCost.
	Workers int `yaml:"workers"`
}

// validate reports the first problem of m, naming the scenario field.
func (m capacityModel) validate() (field, msg string) {
	switch {
	case m.HoldCost < 0:
		return "capacity_model.hold_cost", "must not be negative"
	case m.Workers < 0:
		return "capacity_model.workers", "must not be negative"
	case m.HoldCost > 0 && m.Workers == 0:
		return "capacity_model.workers", "is required with hold_cost: how many holds the core serves at once"
	case m.HoldCost == 0 && m.Workers > 0:
		return "capacity_model.hold_cost", "is required with workers: the service time of one hold"
	}
	return "", ""
}

// holdsPerSecond is the hold rate the modelled core sustains, 0 when the
// model is off.
func (m capacityModel) holdsPerSecond() float64 {
	if m.HoldCost <= 0 {
		return 0
	}
	return float64(m.Workers) / time.Duration(m.HoldCost).Seconds()
}

// wrap returns store with the model in front of its holds, or store itself
// when the model is off.
func (m capacityModel) wrap(store seating.Store) seating.Store {
	if m.HoldCost <= 0 {
		return store
	}
	return &costlyStore{Store: store, cost: time.Duration(m.HoldCost), slots: make(chan struct{}, m.Workers)}
}

// costlyStore is a seating store whose holds each take a worker slot for a
// fixed service time before the real store decides them. Only holds pay:
// they are the step the health document measures and admission follows.
// It is safe for concurrent use.
type costlyStore struct {
	seating.Store
	cost  time.Duration
	slots chan struct{} // one token per hold being served
}

// Hold waits for a free worker (or ctx), serves for the cost, then lets the
// real store decide. A hold that finds no worker before ctx ends fails as
// a store timeout would.
func (s *costlyStore) Hold(ctx context.Context, event, stand string, req seating.HoldRequest) (seating.Hold, error) {
	select {
	case s.slots <- struct{}{}:
	case <-ctx.Done():
		return seating.Hold{}, fmt.Errorf("rehearsal capacity model: no worker free: %w", ctx.Err())
	}
	defer func() { <-s.slots }()
	t := time.NewTimer(s.cost)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return seating.Hold{}, fmt.Errorf("rehearsal capacity model: %w", ctx.Err())
	}
	return s.Store.Hold(ctx, event, stand, req)
}
