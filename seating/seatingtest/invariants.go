package seatingtest

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"strings"

	"github.com/foyerhq/foyer/seating"
)

// CheckInvariants checks a stand's dump against its layout: statuses
// agree with the holds (every held seat in exactly one active hold, every
// sold seat in exactly one confirmed hold, free seats in none, blocked seats
// as laid out), each seat's owner entry names its hold, the counts per tier
// and per owner add up, and the row run bounds of best available bound the
// free runs of each row.
func CheckInvariants(d seating.StandDump, l seating.StandLayout) error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	n := len(l.Tiers)
	if len(d.Status) != (n+3)/4 {
		return fmt.Errorf("status is %d bytes, want %d", len(d.Status), (n+3)/4)
	}
	blocked := make(map[int]bool)
	for _, b := range l.Blocked {
		blocked[b] = true
	}
	in := make(map[int]seating.Hold)
	heldBy := make(map[string]int)
	for _, h := range d.Holds {
		if h.Stand != d.Stand || !strings.HasPrefix(h.ID, d.Stand+".") {
			fail("hold %s is not of stand %s", h.ID, d.Stand)
		}
		for _, s := range h.Seats {
			if other, dup := in[s]; dup {
				fail("seat %d is in holds %s and %s", s, other.ID, h.ID)
			}
			in[s] = h
		}
		if h.State == seating.HoldActive {
			heldBy[h.Owner] += len(h.Seats)
		}
	}
	rows := l.Rows
	if len(rows) == 0 {
		rows = []int{0}
	}
	counts := make([]seating.TierCount, l.TierCount)
	// longest[t*rows+r] is the longest run of free seats of tier t in
	// row r; run is the current one, of tier runTier.
	longest := make([]int, l.TierCount*len(rows))
	row, run, runTier := 0, 0, 0
	for i := range n {
		for row+1 < len(rows) && rows[row+1] <= i {
			row++
			run = 0
		}
		st := statusAt(d.Status, i)
		t := int(l.Tiers[i])
		h, inHold := in[i]
		owner, hasOwner := d.Owners[i]
		switch st {
		case seating.Free:
			counts[t].Free++
			if run > 0 && runTier != t {
				run = 0
			}
			run, runTier = run+1, t
			longest[t*len(rows)+row] = max(longest[t*len(rows)+row], run)
			if inHold || hasOwner {
				fail("free seat %d has hold %s, owner entry %q", i, h.ID, owner)
			}
		case seating.Held, seating.Sold:
			run = 0
			if st == seating.Held {
				counts[t].Held++
			} else {
				counts[t].Sold++
			}
			wantState := map[seating.Status]seating.HoldState{seating.Held: seating.HoldActive, seating.Sold: seating.HoldConfirmed}[st]
			if !inHold || h.State != wantState || owner != h.ID {
				fail("%v seat %d: hold %q in state %v, owner entry %q", st, i, h.ID, h.State, owner)
			}
		case seating.Blocked:
			run = 0
			counts[t].Blocked++
			if inHold || hasOwner {
				fail("blocked seat %d is held", i)
			}
		}
		if blocked[i] != (st == seating.Blocked) {
			fail("seat %d is %v; blocked in the layout: %v", i, st, blocked[i])
		}
	}
	if n%4 != 0 && d.Status[len(d.Status)-1]&(0xff>>(2*(n%4))) != 0 {
		fail("bits past the last seat are set: %08b", d.Status[len(d.Status)-1])
	}
	for s := range d.Owners {
		if s < 0 || s >= n {
			fail("owner entry for seat %d out of range", s)
		}
	}
	if !reflect.DeepEqual(counts, d.Tiers) {
		fail("tier counts: store has %v, statuses give %v", d.Tiers, counts)
	}
	capacity := make([]int, l.TierCount)
	for _, t := range l.Tiers {
		capacity[t]++
	}
	for t, c := range d.Tiers {
		if sum := c.Free + c.Held + c.Sold + c.Blocked; sum != capacity[t] {
			fail("tier %d: free+held+sold+blocked = %d, capacity %d", t, sum, capacity[t])
		}
	}
	if !maps.Equal(heldBy, d.HeldBy) {
		fail("seats held by owner: store has %v, holds give %v", d.HeldBy, heldBy)
	}
	for t := range l.TierCount {
		for r := range rows {
			if t >= len(d.TierRun) || d.TierRun[t] < longest[t*len(rows)+r] {
				fail("tier %d row %d: longest free run %d above the store's tier bound", t, r, longest[t*len(rows)+r])
				break
			}
		}
	}
	if len(d.RowRun) != len(longest) {
		fail("row run bounds: store has %d, want %d", len(d.RowRun), len(longest))
	} else {
		for i, b := range d.RowRun {
			if b < longest[i] {
				fail("tier %d row %d: longest free run %d above the store's bound %d", i/len(rows), i%len(rows), longest[i], b)
			}
		}
	}
	return errors.Join(errs...)
}

// statusAt returns seat i's status in a packed encoding.
func statusAt(packed []byte, i int) seating.Status {
	return seating.Status(packed[i/4]>>(6-2*(i%4))) & 3
}
