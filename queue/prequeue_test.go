package queue_test

import (
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/foyerhq/foyer/queue"
)

// TestMemberID: member ids are valid draw members, stable, and distinct.
func TestMemberID(t *testing.T) {
	a, b := queue.MemberID("visitor-a"), queue.MemberID("visitor-b")
	if len(a) != 22 || !queue.ValidVisitor(a) || a == b || a != queue.MemberID("visitor-a") {
		t.Errorf("got %q and %q, want two distinct stable 22-character ids", a, b)
	}
}

// TestRunDrawIsUniform draws a five-member pre-queue through the store many
// times, each with a fresh seed: every one of the 120 orders comes up
// about equally often (χ² test; it fails by chance once in a million runs).
func TestRunDrawIsUniform(t *testing.T) {
	const reps = 12000
	start := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	var mu sync.Mutex // guards now
	now := start.Add(-time.Minute)
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	s := queue.NewMemory(clock)
	seed := queue.Seed{PrequeueClosesAt: start}
	counts := map[string]int{}
	for rep := range reps {
		ev := fmt.Sprint("ev", rep)
		for _, v := range []string{"a", "b", "c", "d", "e"} {
			if _, err := s.Join(t.Context(), ev, v, seed); err != nil {
				t.Fatal(err)
			}
		}
		mu.Lock()
		now = start.Add(time.Second)
		mu.Unlock()
		_, d, err := queue.RunDraw(t.Context(), s, ev, seed)
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		now = start.Add(-time.Minute)
		mu.Unlock()
		counts[fmt.Sprint(d.Order)]++
		s.Forget(ev)
	}
	if len(counts) != 120 {
		t.Fatalf("got %d distinct orders of 5 members, want all 120", len(counts))
	}
	want := float64(reps) / 120
	var chi2 float64
	for _, n := range counts {
		chi2 += (float64(n) - want) * (float64(n) - want) / want
	}
	// Upper 1e-6 quantile of χ² with 119 degrees of freedom
	// (Wilson–Hilferty approximation).
	k, z := 119.0, 4.753
	crit := k * math.Pow(1-2/(9*k)+z*math.Sqrt(2/(9*k)), 3)
	t.Logf("χ² = %.1f over %d draws, critical %.1f", chi2, reps, crit)
	if chi2 > crit {
		t.Errorf("orders are not uniform: χ² = %.1f > %.1f", chi2, crit)
	}
}
