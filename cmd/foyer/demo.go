package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/foyerhq/foyer/admission"
	"github.com/foyerhq/foyer/queue"
	"github.com/foyerhq/foyer/seating"
)

// demoCrowd is how many simulated fans the demo puts in line before the
// first real one, so that the queue page has something to show.
const demoCrowd = 10

// demoConfig is the configuration of foyer serve without --config: the memory
// store, one event named demo covering every path, and the seating service
// with a 10,000-seat venue as its origin.
func demoConfig() *fileConfig {
	return &fileConfig{
		Shutdown: shutdownConf{DrainDelay: new(duration)}, // no load balancer to drain
		Events: []eventConf{{
			Name:          "demo",
			Title:         "Foyer demo on-sale",
			PathPrefix:    "/",
			RatePerSecond: 1,
		}},
	}
}

// joinCrowd puts n simulated fans in the demo line.
func joinCrowd(ctx context.Context, store queue.Store, event string, n int) {
	for i := range n {
		_, _ = store.Join(ctx, event, fmt.Sprintf("demo-crowd-%04d", i), queue.Seed{Control: queue.Control{RatePerSecond: 1}})
	}
}

// newDemoSeating returns the seating service of the demo, prepared: the
// memory store, the demo venue for event demo, the seat picker page, and
// admission tokens verified with the proxy's own key set.
func newDemoSeating(ctx context.Context, keys *admission.KeySet, reg prometheus.Registerer, log *slog.Logger) (*seating.Server, error) {
	tokens, err := admission.NewTokens(admission.Config{}, keys)
	if err != nil {
		return nil, err
	}
	store := seating.NewMemory(nil)
	cache, err := seating.NewStandCache(seating.CacheConfig{}, store, seating.NewMemoryShared(nil), reg, nil)
	if err != nil {
		return nil, err
	}
	srv, err := seating.New(seating.Config{
		Events:   []seating.Event{{Name: "demo", Venue: seating.DemoVenue()}},
		DemoPage: true,
	}, store, cache, tokens, reg, log)
	if err != nil {
		return nil, err
	}
	if err := srv.Prepare(ctx); err != nil {
		return nil, err
	}
	return srv, nil
}
