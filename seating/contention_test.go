package seating_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/foyerhq/foyer/internal/redistest"
	"github.com/foyerhq/foyer/seating"
	"github.com/foyerhq/foyer/seating/seatingtest"
)

// The contention test: contentionFans fans (goroutines) fight over the 64
// seats of rows 0-3 of a stand, round after round. In each round every fan
// tries once to hold 1 to 4 hot seats (some by best available), while a
// sampler checks the store's invariants; then the winners confirm, release
// or walk away at random, and the clock jumps past the holds' TTL so the
// next round reclaims what was left.
const (
	contentionFans   = 200
	contentionRounds = 20
	contentionTTL    = time.Minute
	contentionStand  = "H"
)

// contentionLayout is 8 rows of 16 seats: rows 0-3 (seats 0-63, the hot
// seats) of tier 0 with seats 7 and 40 blocked, rows 4-7 of tier 1.
func contentionLayout() seating.StandLayout {
	l := seating.StandLayout{ID: contentionStand, TierCount: 2, Blocked: []int{7, 40}}
	for r := range 8 {
		l.Rows = append(l.Rows, 16*r)
		for range 16 {
			l.Tiers = append(l.Tiers, uint8(r/4))
		}
	}
	return l
}

func TestContentionMemory(t *testing.T) {
	clock := seatingtest.NewClock()
	runContention(t, seating.NewMemory(clock.Now), clock)
}

func TestContentionRedis(t *testing.T) {
	srv := redistest.Start(t)
	clock := seatingtest.NewClock()
	runContention(t, seating.NewRedis(srv.Client(t), seating.RedisOptions{Now: clock.Now}), clock)
}

// contentionAttempt is one fan's try in a round.
type contentionAttempt struct {
	owner string
	seats []int // nil for best available
	hold  seating.Hold
	err   error
}

func runContention(t *testing.T, s seating.Store, clock *seatingtest.Clock) {
	ctx := t.Context()
	layout := contentionLayout()
	if err := s.Prepare(ctx, "hot", []seating.StandLayout{layout}); err != nil {
		t.Fatal(err)
	}
	dumper := s.(seatingtest.Dumper)
	dump := func() seating.StandDump {
		t.Helper()
		d, err := dumper.Dump(ctx, "hot", contentionStand)
		if err != nil {
			t.Fatal(err)
		}
		if err := seatingtest.CheckInvariants(d, layout); err != nil {
			t.Fatalf("invariants: %v", err)
		}
		return d
	}
	sold := make(map[int]string) // seat → the hold that bought it, ever
	var wins, conflicts, samples int
	for round := range contentionRounds {
		rng := rand.New(rand.NewPCG(uint64(round), 42))
		attempts := make([]contentionAttempt, contentionFans)
		for i := range attempts {
			a := &attempts[i]
			a.owner = fmt.Sprintf("fan%d", i)
			if rng.IntN(5) > 0 {
				for range 1 + rng.IntN(4) {
					a.seats = append(a.seats, rng.IntN(64))
				}
				slices.Sort(a.seats)
				a.seats = slices.Compact(a.seats)
			}
		}
		start := dump()

		// The hold phase, with a sampler checking invariants meanwhile.
		var done atomic.Bool
		var wg sync.WaitGroup
		sampler := make(chan int)
		go func() {
			n := 0
			for !done.Load() {
				d, err := dumper.Dump(ctx, "hot", contentionStand)
				if err == nil {
					err = seatingtest.CheckInvariants(d, layout)
				}
				if err != nil {
					t.Errorf("round %d, sample %d: %v", round, n, err)
					break
				}
				n++
			}
			sampler <- n
		}()
		gate := make(chan struct{})
		for i := range attempts {
			a := &attempts[i]
			wg.Go(func() {
				<-gate
				req := seating.HoldRequest{Owner: a.owner, Seats: a.seats, TTL: contentionTTL, MaxSeats: 8}
				if a.seats == nil {
					req.Tier, req.Quantity = 0, 1+i%4
				}
				a.hold, a.err = s.Hold(ctx, "hot", contentionStand, req)
			})
		}
		close(gate)
		wg.Wait()
		done.Store(true)
		samples += <-sampler
		mid := dump()
		wins += checkHoldPhase(t, round, start, mid, attempts)
		for _, a := range attempts {
			if errors.Is(a.err, seating.ErrConflict) {
				conflicts++
			}
		}

		// The resolution phase: winners confirm (one in ten, half of them
		// twice), release (twice) or walk away, all at once.
		type sale struct {
			hold seating.Hold
			err  error
		}
		sales := make([]sale, len(attempts))
		for i := range attempts {
			a := &attempts[i]
			if a.err != nil {
				continue
			}
			action := rng.IntN(20)
			wg.Go(func() {
				switch {
				case action == 0:
					sales[i].hold, sales[i].err = s.Confirm(ctx, "hot", a.hold.ID, a.owner)
					if again, err := s.Confirm(ctx, "hot", a.hold.ID, a.owner); err != nil || again.Version != sales[i].hold.Version {
						t.Errorf("round %d: confirm repeated got %+v, %v, want %+v", round, again, err, sales[i].hold)
					}
				case action == 1:
					sales[i].hold, sales[i].err = s.Confirm(ctx, "hot", a.hold.ID, a.owner)
				case action < 10:
					if _, err := s.Release(ctx, "hot", a.hold.ID, a.owner); err != nil {
						t.Errorf("round %d: release of %s: %v", round, a.hold.ID, err)
					}
					if _, err := s.Release(ctx, "hot", a.hold.ID, a.owner); err != nil {
						t.Errorf("round %d: release repeated of %s: %v", round, a.hold.ID, err)
					}
				}
			})
		}
		wg.Wait()
		for _, sl := range sales {
			if sl.err != nil {
				t.Errorf("round %d: confirm: %v", round, sl.err)
			}
			for _, seat := range sl.hold.Seats {
				if prev, twice := sold[seat]; twice {
					t.Errorf("round %d: seat %d sold twice, by %s and %s", round, seat, prev, sl.hold.ID)
				}
				sold[seat] = sl.hold.ID
			}
		}
		end := dump()
		for seat := range layout.Tiers {
			_, want := sold[seat]
			if got := contentionStatus(end.Status, seat) == seating.Sold; got != want {
				t.Errorf("round %d: seat %d sold %v, the fans' confirmations say %v", round, seat, got, want)
			}
		}
		clock.Add(contentionTTL) // every hold left expires
	}
	if wins < contentionRounds*5 || conflicts < contentionRounds*50 || len(sold) < 10 {
		t.Errorf("too little contention: %d wins, %d conflicts, %d seats sold", wins, conflicts, len(sold))
	}
	t.Logf("%d rounds of %d fans: %d holds won, %d conflicts, %d seats sold, %d invariant samples during holds",
		contentionRounds, contentionFans, wins, conflicts, len(sold), samples)
}

// checkHoldPhase checks a round's holds against the stand before (start)
// and after (mid): each seat has at most one winner, who holds it; every
// conflict names only seats that were taken by someone else; a hot seat
// that was free and wanted but has no winner is still free: its fans all
// lost on another seat. It returns the number of winners.
func checkHoldPhase(t *testing.T, round int, start, mid seating.StandDump, attempts []contentionAttempt) int {
	t.Helper()
	winner := make(map[int]string)
	wanted := make(map[int]bool)
	wins := 0
	for _, a := range attempts {
		for _, s := range a.seats {
			wanted[s] = true
		}
		var ce *seating.ConflictError
		switch {
		case a.err == nil:
			wins++
			if a.seats != nil && !slices.Equal(a.hold.Seats, a.seats) {
				t.Errorf("round %d: %s asked %v, got %v", round, a.owner, a.seats, a.hold.Seats)
			}
			for i, s := range a.hold.Seats {
				if prev, dup := winner[s]; dup {
					t.Errorf("round %d: seat %d won by %s and %s", round, s, prev, a.owner)
				}
				winner[s] = a.owner
				if mid.Owners[s] != a.hold.ID {
					t.Errorf("round %d: seat %d won by %s (%s) but held by %q", round, s, a.owner, a.hold.ID, mid.Owners[s])
				}
				if a.seats == nil && (s/16 != a.hold.Seats[0]/16 || i > 0 && s != a.hold.Seats[i-1]+1 || s >= 64) {
					t.Errorf("round %d: best available gave %v: not adjacent in one hot row", round, a.hold.Seats)
				}
			}
		case errors.As(a.err, &ce):
			for _, s := range ce.Taken {
				st := contentionStatus(mid.Status, s)
				if st == seating.Free || st == seating.Held && contentionOwnerOf(mid, mid.Owners[s]) == a.owner {
					t.Errorf("round %d: %s lost on seat %d, which is %v and held by %q", round, a.owner, s, st, mid.Owners[s])
				}
			}
		case errors.Is(a.err, seating.ErrNoSeats), errors.Is(a.err, seating.ErrCapExceeded):
		default:
			t.Errorf("round %d: %s: %v", round, a.owner, a.err)
		}
	}
	for s := range wanted {
		if contentionStatus(start.Status, s) == seating.Free && winner[s] == "" && contentionStatus(mid.Status, s) != seating.Free {
			t.Errorf("round %d: seat %d has no winner but is %v", round, s, contentionStatus(mid.Status, s))
		}
	}
	return wins
}

// contentionOwnerOf returns the owner of a hold in a dump.
func contentionOwnerOf(d seating.StandDump, id string) string {
	for _, h := range d.Holds {
		if h.ID == id {
			return h.Owner
		}
	}
	return ""
}

func contentionStatus(packed []byte, i int) seating.Status {
	return seating.Status(packed[i/4]>>(6-2*(i%4))) & 3
}
