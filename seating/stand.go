package seating

import (
	"cmp"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Limits of a hold request, checked before any store call.
const (
	// MaxHoldSeats is the most seats one explicit hold may name.
	MaxHoldSeats = 64
	// MaxHoldQuantity is the most seats one best-available hold may ask.
	MaxHoldQuantity = 16
	// MaxHoldTTL is the longest TTL or maxTotal a hold may be given.
	MaxHoldTTL = 24 * time.Hour
	// DefaultChangeLogSize is how many seat changes a stand's change log
	// keeps by default.
	DefaultChangeLogSize = 4096
)

// Lengths of the names the stores take.
const (
	storeMaxEventLen = 64
	storeMaxStandLen = 32 // as StandLayout.ID
	storeMaxOwnerLen = 128
	storeMaxKeyLen   = 64
	// storeHoldIDRandLen is the length of a hold id's random part: 12
	// bytes in unpadded base64url.
	storeHoldIDRandLen = 16
)

// StandDump is everything a store keeps of one stand, read in one atomic
// step without sweeping expired holds. Tests and operators use it to check
// the store's invariants; the seat map is served from Snapshot.
type StandDump struct {
	Stand   string
	Version uint64
	// Status is the packed encoding, as in StandSnapshot.
	Status []byte
	// Tiers are the counts per tier as the store keeps them.
	Tiers []TierCount
	// Holds are every hold record, active (expired ones not yet swept
	// included) and confirmed, sorted by ID. A hold's Version is the
	// stand version at which it last changed its seats.
	Holds []Hold
	// Owners maps each held or sold seat to its hold's ID.
	Owners map[int]string
	// HeldBy counts the seats of each owner's active holds.
	HeldBy map[string]int
	// RowRun bounds, for each tier and row (at tier*len(rows)+row), the
	// longest run of free seats of the tier in the row: best available
	// skips rows whose bound is below the quantity asked. TierRun bounds
	// the longest run of each tier in any row.
	RowRun  []int
	TierRun []int
	// At is the store's clock when the dump was read.
	At time.Time
}

// storeConfirmedError is the error of Release and Extend on a confirmed
// hold. It is ErrConfirmed, and ErrInvalid too, for callers that only tell
// a request that cannot succeed from a retryable one.
type storeConfirmedError struct{}

func (storeConfirmedError) Error() string { return ErrConfirmed.Error() }

func (storeConfirmedError) Is(target error) bool {
	return target == ErrConfirmed || target == ErrInvalid
}

// storeErrConfirmed is the one value of storeConfirmedError.
var storeErrConfirmed error = storeConfirmedError{}

// storeInvalid returns an error wrapping ErrInvalid.
func storeInvalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

// storeValidName reports whether s is 1 to max bytes of [A-Za-z0-9_-].
func storeValidName(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// storeValidKey reports whether k may be an idempotency key: 1 to storeMaxKeyLen
// bytes of printable ASCII without spaces or '|', the separator of the
// stores' records.
func storeValidKey(k string) bool {
	if k == "" || len(k) > storeMaxKeyLen {
		return false
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; c <= ' ' || c > '~' || c == '|' {
			return false
		}
	}
	return true
}

// storeCheckStand checks an event and stand name.
func storeCheckStand(event, stand string) error {
	if !storeValidName(event, storeMaxEventLen) {
		return storeInvalid("event %q: want 1 to %d bytes of A-Z, a-z, 0-9, _ and -", event, storeMaxEventLen)
	}
	if !storeValidName(stand, storeMaxStandLen) {
		return storeInvalid("stand %q: want 1 to %d bytes of A-Z, a-z, 0-9, _ and -", stand, storeMaxStandLen)
	}
	return nil
}

// storeCheckOwner checks a visitor id: any 1 to storeMaxOwnerLen bytes.
func storeCheckOwner(owner string) error {
	if owner == "" || len(owner) > storeMaxOwnerLen {
		return storeInvalid("owner: want 1 to %d bytes, got %d", storeMaxOwnerLen, len(owner))
	}
	return nil
}

// storeCheckTTL checks a duration given to a hold: whole milliseconds matter,
// from 1 ms to MaxHoldTTL.
func storeCheckTTL(name string, d time.Duration) error {
	if d < time.Millisecond || d > MaxHoldTTL {
		return storeInvalid("%s %v: want 1ms to %v", name, d, MaxHoldTTL)
	}
	return nil
}

// storeCheckHold validates req before any store call and returns its
// seats sorted, in a new slice. Seat indexes past the stand's end are
// caught by the store, which alone knows the stand's size.
func storeCheckHold(event, stand string, req HoldRequest) ([]int, error) {
	if err := storeCheckStand(event, stand); err != nil {
		return nil, err
	}
	if err := storeCheckOwner(req.Owner); err != nil {
		return nil, err
	}
	if err := storeCheckTTL("ttl", req.TTL); err != nil {
		return nil, err
	}
	if req.MaxSeats < 0 {
		return nil, storeInvalid("max seats %d is negative", req.MaxSeats)
	}
	if req.Key != "" && !storeValidKey(req.Key) {
		return nil, storeInvalid("idempotency key: want 1 to %d bytes of printable ASCII without spaces or '|'", storeMaxKeyLen)
	}
	if len(req.Seats) == 0 {
		if req.Quantity < 1 || req.Quantity > MaxHoldQuantity {
			return nil, storeInvalid("quantity %d: want 1 to %d", req.Quantity, MaxHoldQuantity)
		}
		if req.Tier < 0 || req.Tier >= MaxTiers {
			return nil, storeInvalid("tier %d out of range", req.Tier)
		}
		return nil, nil
	}
	if len(req.Seats) > MaxHoldSeats {
		return nil, storeInvalid("%d seats: want at most %d", len(req.Seats), MaxHoldSeats)
	}
	if req.Quantity != 0 && req.Quantity != len(req.Seats) {
		return nil, storeInvalid("quantity %d with %d seats named", req.Quantity, len(req.Seats))
	}
	seats := slices.Clone(req.Seats)
	slices.Sort(seats)
	for i, s := range seats {
		if s < 0 || s >= MaxStandSeats {
			return nil, storeInvalid("seat index %d out of range", s)
		}
		if i > 0 && seats[i-1] == s {
			return nil, storeInvalid("seat %d named twice", s)
		}
	}
	return seats, nil
}

// storeCheckLayouts validates the layouts given to Prepare.
func storeCheckLayouts(event string, stands []StandLayout) error {
	if !storeValidName(event, storeMaxEventLen) {
		return storeInvalid("event %q: want 1 to %d bytes of A-Z, a-z, 0-9, _ and -", event, storeMaxEventLen)
	}
	seen := make(map[string]bool, len(stands))
	for i, l := range stands {
		if !storeValidName(l.ID, storeMaxStandLen) {
			return storeInvalid("stands[%d]: id %q: want 1 to %d bytes of A-Z, a-z, 0-9, _ and -", i, l.ID, storeMaxStandLen)
		}
		if seen[l.ID] {
			return storeInvalid("stands[%d]: id %q used twice", i, l.ID)
		}
		seen[l.ID] = true
		n := len(l.Tiers)
		if n == 0 || n > MaxStandSeats {
			return storeInvalid("stand %s: %d seats: want 1 to %d", l.ID, n, MaxStandSeats)
		}
		if l.TierCount < 1 || l.TierCount > MaxTiers {
			return storeInvalid("stand %s: tier count %d: want 1 to %d", l.ID, l.TierCount, MaxTiers)
		}
		for s, t := range l.Tiers {
			if int(t) >= l.TierCount {
				return storeInvalid("stand %s: seat %d has tier %d of %d", l.ID, s, t, l.TierCount)
			}
		}
		blocked := make(map[int]bool, len(l.Blocked))
		for _, s := range l.Blocked {
			if s < 0 || s >= n || blocked[s] {
				return storeInvalid("stand %s: blocked seat %d out of range or listed twice", l.ID, s)
			}
			blocked[s] = true
		}
		for r, start := range l.Rows {
			if r == 0 && start != 0 || start < 0 || start > n || r > 0 && start < l.Rows[r-1] {
				return storeInvalid("stand %s: row %d starts at %d: rows start at 0 and go up to the seat count", l.ID, r, start)
			}
		}
	}
	return nil
}

// storeLayoutRows returns l's row starts, the whole stand being one row when
// l.Rows is empty.
func storeLayoutRows(l StandLayout) []int {
	if len(l.Rows) == 0 {
		return []int{0}
	}
	return l.Rows
}

// storeNewHoldID returns a new hold id of stand: the stand, a dot and 12 random
// bytes in unpadded base64url.
func storeNewHoldID(stand string) string {
	var b [12]byte
	rand.Read(b[:]) // never fails since Go 1.24
	return stand + "." + base64.RawURLEncoding.EncodeToString(b[:])
}

// storeHoldStand returns the stand named by a hold id, or ErrHoldNotFound when
// the id is not one the stores make.
func storeHoldStand(id string) (string, error) {
	stand, rnd, ok := strings.Cut(id, ".")
	if !ok || !storeValidName(stand, storeMaxStandLen) || !storeValidName(rnd, storeHoldIDRandLen) || len(rnd) != storeHoldIDRandLen {
		return "", fmt.Errorf("%w: malformed hold id", ErrHoldNotFound)
	}
	return stand, nil
}

// storeCheckHoldCall validates the arguments of Extend, Release and Confirm and
// returns the hold's stand.
func storeCheckHoldCall(event, holdID, owner string) (string, error) {
	if !storeValidName(event, storeMaxEventLen) {
		return "", storeInvalid("event %q: want 1 to %d bytes of A-Z, a-z, 0-9, _ and -", event, storeMaxEventLen)
	}
	if err := storeCheckOwner(owner); err != nil {
		return "", err
	}
	return storeHoldStand(holdID)
}

// packedStatus returns seat i's status in a packed encoding.
func packedStatus(packed []byte, i int) Status {
	return Status(packed[i>>2]>>(6-2*(i&3))) & 3
}

// setPackedStatus sets seat i's status in a packed encoding.
func setPackedStatus(packed []byte, i int, s Status) {
	shift := 6 - 2*(i&3)
	packed[i>>2] = packed[i>>2]&^(3<<shift) | byte(s)<<shift
}

// ledgerHold is one hold as a stand keeps it.
type ledgerHold struct {
	id, owner, key string
	// seats are sorted.
	seats     []int
	confirmed bool
	createdMS int64
	expiresMS int64
	// version is the stand version at which the hold last changed its
	// seats: when it was made, then when it was confirmed.
	version uint64
}

func (h *ledgerHold) hold(stand string) Hold {
	st := HoldActive
	if h.confirmed {
		st = HoldConfirmed
	}
	return Hold{
		ID: h.id, Stand: stand, Owner: h.owner, Seats: slices.Clone(h.seats),
		State: st, ExpiresAt: time.UnixMilli(h.expiresMS), Version: h.version,
	}
}

// standLedger is one stand's authoritative state: the reference
// implementation of the Redis scripts in store_redis_scripts.go, step for step and
// in the same order, so the two stores agree on every outcome, version and
// change log. The memory store keeps one per stand. It is not safe for
// concurrent use.
type standLedger struct {
	id        string
	n         int
	tierCount int
	status    []byte
	tiers     []uint8
	rows      []int
	// seatRow is the row of each seat.
	seatRow []int
	// rowRun is an upper bound of the longest run of free seats of a tier
	// in a row, at tier*len(rows)+row: exact when made and when best
	// available scans the row, left alone when seats are taken (it stays a
	// bound) and set to runUnknown when a seat frees. tierRun bounds the
	// longest run of a tier in any row, lowered when best available scans
	// every row in vain.
	rowRun  []int
	tierRun []int
	counts  []TierCount
	version uint64
	// holds has every record, active and confirmed, and active the active
	// ones (the Redis store's exp); owners maps held and sold seats to
	// their hold; heldBy counts each owner's seats in active holds; keys
	// maps key|owner to the hold made with that key.
	holds  map[string]*ledgerHold
	active map[string]*ledgerHold
	owners map[int]string
	heldBy map[string]int
	keys   map[string]string
	// log is the bounded change log; logTrimmed is the newest version
	// whose changes were partly or wholly dropped from it.
	log        []Change
	logMax     int
	logTrimmed uint64

	// bumped tells whether the current step already bumped the version.
	bumped bool
}

// newStandLedger returns the state of a new stand of layout l, which
// storeCheckLayouts accepted: every seat free but the blocked ones.
func newStandLedger(l StandLayout, logMax int) *standLedger {
	n := len(l.Tiers)
	s := &standLedger{
		id: strings.Clone(l.ID), n: n, tierCount: l.TierCount,
		status:  make([]byte, (n+3)/4),
		tiers:   slices.Clone(l.Tiers),
		rows:    slices.Clone(storeLayoutRows(l)),
		seatRow: make([]int, n),
		counts:  make([]TierCount, l.TierCount),
		holds:   make(map[string]*ledgerHold),
		active:  make(map[string]*ledgerHold),
		owners:  make(map[int]string),
		heldBy:  make(map[string]int),
		keys:    make(map[string]string),
		logMax:  logMax,
	}
	s.rowRun = make([]int, len(s.rows)*l.TierCount)
	s.tierRun = make([]int, l.TierCount)
	blocked := make(map[int]bool, len(l.Blocked))
	for _, b := range l.Blocked {
		blocked[b] = true
	}
	r := 0
	for i := range n {
		for r+1 < len(s.rows) && s.rows[r+1] <= i {
			r++
		}
		s.seatRow[i] = r
		t := int(s.tiers[i])
		if blocked[i] {
			setPackedStatus(s.status, i, Blocked)
			s.counts[t].Blocked++
		} else {
			s.counts[t].Free++
		}
	}
	for t := range l.TierCount {
		for r := range s.rows {
			_, _, s.rowRun[t*len(s.rows)+r] = s.scanRow(r, t, 1)
			s.tierRun[t] = max(s.tierRun[t], s.rowRun[t*len(s.rows)+r])
		}
	}
	return s
}

// runUnknown is the run bound of a row, and of its tier, where a seat was
// freed: no row is that long, so best available scans it again.
const runUnknown = 1<<31 - 1

// bestLookahead is how many more candidate rows best available scans for
// a block that strands no seat once it found one that does.
const bestLookahead = 8

// count returns the address of the counter of status st in tier t.
func (c *TierCount) count(st Status) *int {
	switch st {
	case Free:
		return &c.Free
	case Held:
		return &c.Held
	case Sold:
		return &c.Sold
	}
	return &c.Blocked
}

// change moves seats from status from to status to, bumping the version
// once per step and logging each seat.
func (s *standLedger) change(seats []int, from, to Status) {
	if len(seats) == 0 {
		return
	}
	if !s.bumped {
		s.version++
		s.bumped = true
	}
	for _, i := range seats {
		setPackedStatus(s.status, i, to)
		t := int(s.tiers[i])
		*s.counts[t].count(from)--
		*s.counts[t].count(to)++
		if to == Free {
			s.rowRun[t*len(s.rows)+s.seatRow[i]] = runUnknown
			s.tierRun[t] = runUnknown
		}
		s.log = append(s.log, Change{Version: s.version, Seat: i, Status: to})
	}
}

// finish ends a step: it trims the change log to its bound.
func (s *standLedger) finish() {
	s.bumped = false
	if over := len(s.log) - s.logMax; over > 0 {
		s.logTrimmed = s.log[over-1].Version
		// Appends copy the live entries to a new array from time to
		// time: amortised O(1) a change.
		s.log = s.log[over:]
	}
}

// drop frees the seats of active hold h and removes it.
func (s *standLedger) drop(h *ledgerHold) {
	s.change(h.seats, Held, Free)
	for _, i := range h.seats {
		delete(s.owners, i)
	}
	delete(s.holds, h.id)
	delete(s.active, h.id)
	if s.heldBy[h.owner] -= len(h.seats); s.heldBy[h.owner] <= 0 {
		delete(s.heldBy, h.owner)
	}
	if h.key != "" {
		if k := h.key + "|" + h.owner; s.keys[k] == h.id {
			delete(s.keys, k)
		}
	}
}

// sweep drops every active hold expired at nowMS, in order of expiry then
// id, as ZRANGEBYSCORE lists them.
func (s *standLedger) sweep(nowMS int64) {
	var expired []*ledgerHold
	for _, h := range s.active {
		if h.expiresMS <= nowMS {
			expired = append(expired, h)
		}
	}
	slices.SortFunc(expired, func(a, b *ledgerHold) int {
		return cmp.Or(cmp.Compare(a.expiresMS, b.expiresMS), strings.Compare(a.id, b.id))
	})
	for _, h := range expired {
		s.drop(h)
	}
}

// hold runs a hold request already checked by storeCheckHold (seats
// sorted) under the new hold id id.
func (s *standLedger) hold(nowMS int64, id string, req HoldRequest, seats []int) (Hold, error) {
	defer s.finish()
	want := req.Quantity
	if len(seats) > 0 {
		want = len(seats)
		if seats[len(seats)-1] >= s.n {
			return Hold{}, storeInvalid("seat index %d out of range: stand %s has %d seats", seats[len(seats)-1], s.id, s.n)
		}
	} else if req.Tier >= s.tierCount {
		return Hold{}, storeInvalid("tier %d out of range: stand %s has %d tiers", req.Tier, s.id, s.tierCount)
	}
	var keyField string
	if req.Key != "" {
		keyField = req.Key + "|" + req.Owner
		if prev, ok := s.keys[keyField]; ok {
			h := s.holds[prev]
			if h == nil {
				delete(s.keys, keyField)
			} else if h.confirmed || nowMS < h.expiresMS {
				return h.hold(s.id), nil
			} else {
				s.drop(h)
			}
		}
	}
	if req.MaxSeats > 0 && s.heldBy[req.Owner]+want > req.MaxSeats {
		s.sweep(nowMS)
		if s.heldBy[req.Owner]+want > req.MaxSeats {
			return Hold{}, fmt.Errorf("%w: %d held, %d asked, at most %d", ErrCapExceeded, s.heldBy[req.Owner], want, req.MaxSeats)
		}
	}
	if len(seats) > 0 {
		// Reclaim expired holds found on the seats, then take them all
		// or report every seat still taken.
		var taken []int
		for _, i := range seats {
			if packedStatus(s.status, i) == Held {
				if h := s.holds[s.owners[i]]; h != nil && !h.confirmed && h.expiresMS <= nowMS {
					s.drop(h)
				}
			}
		}
		for _, i := range seats {
			if packedStatus(s.status, i) != Free {
				taken = append(taken, i)
			}
		}
		if len(taken) > 0 {
			return Hold{}, &ConflictError{Taken: taken, Version: s.version}
		}
	} else {
		s.sweep(nowMS)
		start, ok := s.bestAvailable(req.Tier, req.Quantity)
		if !ok {
			return Hold{}, ErrNoSeats
		}
		seats = make([]int, req.Quantity)
		for k := range seats {
			seats[k] = start + k
		}
	}
	s.change(seats, Free, Held)
	h := &ledgerHold{
		id: id, owner: req.Owner, key: req.Key, seats: seats,
		createdMS: nowMS, expiresMS: nowMS + req.TTL.Milliseconds(), version: s.version,
	}
	s.holds[id] = h
	s.active[id] = h
	for _, i := range seats {
		s.owners[i] = id
	}
	s.heldBy[req.Owner] += len(seats)
	if keyField != "" {
		s.keys[keyField] = id
	}
	return h.hold(s.id), nil
}

// bestAvailable finds q adjacent free seats of tier t in one row and
// returns the first. Rows are scanned in order, skipping those whose run
// bound is below q; in a row, each maximal run of free seats of the tier is
// a candidate, its block placed at the run's start. The first run that
// strands no single seat (its length is q, or q+2 or more) wins; failing
// that, the first run of q+1, which must strand one, once bestLookahead
// more candidate rows brought nothing better.
//
// Each scanned row's bound is set to its exact longest run, so a row too
// fragmented for q is not scanned again until one of its seats frees; when
// no row fits, the tier's bound is lowered too, and asking again costs
// O(1) until a seat of the tier frees. A call costs O(rows) to read the
// bounds plus O(row length) for each row scanned; at most bestLookahead+1
// scanned rows hold a block, every other one has its bound lowered below
// q, which only a freed seat undoes.
func (s *standLedger) bestAvailable(t, q int) (start int, ok bool) {
	if s.counts[t].Free < q || s.tierRun[t] < q {
		return 0, false
	}
	nrows := len(s.rows)
	fallback, extra, longest := -1, 0, 0
	for r := range nrows {
		slot := t*nrows + r
		if s.rowRun[slot] < q {
			longest = max(longest, s.rowRun[slot])
			continue
		}
		if fallback >= 0 {
			if extra == bestLookahead {
				break
			}
			extra++
		}
		perfect, strands, run := s.scanRow(r, t, q)
		s.rowRun[slot] = run
		longest = max(longest, run)
		if perfect >= 0 {
			return perfect, true
		}
		if fallback < 0 {
			fallback = strands
		}
	}
	if fallback < 0 {
		// Every row was seen: none has a run of q.
		s.tierRun[t] = longest
	}
	return fallback, fallback >= 0
}

// scanRow returns, for row r and tier t, the start of its first run of
// free seats that fits q without stranding a seat, of its first run of
// q+1 (-1 for none), and its longest run.
func (s *standLedger) scanRow(r, t, q int) (perfect, strands, longest int) {
	perfect, strands = -1, -1
	a, b := s.rows[r], s.n-1
	if r+1 < len(s.rows) {
		b = s.rows[r+1] - 1
	}
	run := 0
	for i := a; i <= b+1; i++ {
		if i <= b && packedStatus(s.status, i) == Free && int(s.tiers[i]) == t {
			run++
			continue
		}
		longest = max(longest, run)
		if perfect < 0 && (run == q || run >= q+2) {
			perfect = i - run
		}
		if strands < 0 && run == q+1 {
			strands = i - run
		}
		run = 0
	}
	return perfect, strands, longest
}

// lookup returns the hold id of owner, or an error: ErrHoldNotFound when
// missing, ErrNotOwner when another's.
func (s *standLedger) lookup(id, owner string) (*ledgerHold, error) {
	h := s.holds[id]
	if h == nil {
		return nil, ErrHoldNotFound
	}
	if h.owner != owner {
		return nil, ErrNotOwner
	}
	return h, nil
}

// extend moves an active hold's expiry to now+ttl, capped at its creation
// plus maxTotal; it never shortens a hold. An expired hold is dropped.
func (s *standLedger) extend(nowMS int64, id, owner string, ttlMS, maxMS int64) (Hold, error) {
	defer s.finish()
	h, err := s.lookup(id, owner)
	if err != nil {
		return Hold{}, err
	}
	if h.confirmed {
		return Hold{}, storeErrConfirmed
	}
	if h.expiresMS <= nowMS {
		s.drop(h)
		return Hold{}, ErrExpired
	}
	if e := min(nowMS+ttlMS, h.createdMS+maxMS); e > h.expiresMS {
		h.expiresMS = e
	}
	out := h.hold(s.id)
	out.Version = s.version
	return out, nil
}

// release frees an active hold's seats, expired or not. A missing hold is
// not an error.
func (s *standLedger) release(id, owner string) (uint64, error) {
	defer s.finish()
	h, err := s.lookup(id, owner)
	if err == ErrHoldNotFound {
		return s.version, nil
	}
	if err != nil {
		return s.version, err
	}
	if h.confirmed {
		return s.version, storeErrConfirmed
	}
	s.drop(h)
	return s.version, nil
}

// confirm sells an active hold's seats; a confirmed hold is returned as it
// was confirmed; an expired hold is dropped.
func (s *standLedger) confirm(nowMS int64, id, owner string) (Hold, error) {
	defer s.finish()
	h, err := s.lookup(id, owner)
	if err != nil {
		return Hold{}, err
	}
	if h.confirmed {
		return h.hold(s.id), nil
	}
	if h.expiresMS <= nowMS {
		s.drop(h)
		return Hold{}, ErrExpired
	}
	s.change(h.seats, Held, Sold)
	h.confirmed = true
	h.version = s.version
	delete(s.active, id)
	if s.heldBy[owner] -= len(h.seats); s.heldBy[owner] <= 0 {
		delete(s.heldBy, owner)
	}
	return h.hold(s.id), nil
}

// snapshot sweeps expired holds and returns the stand's state.
func (s *standLedger) snapshot(nowMS int64) StandSnapshot {
	s.sweep(nowMS)
	s.finish()
	return StandSnapshot{
		Stand: s.id, Version: s.version, Status: slices.Clone(s.status),
		Tiers: slices.Clone(s.counts), At: time.UnixMilli(nowMS),
	}
}

// changes returns the logged changes after version since.
func (s *standLedger) changes(since uint64) ([]Change, uint64, bool) {
	if since > s.version || since < s.logTrimmed {
		return nil, s.version, false
	}
	i := len(s.log)
	for i > 0 && s.log[i-1].Version > since {
		i--
	}
	return slices.Clone(s.log[i:]), s.version, true
}

// dump returns everything the stand keeps.
func (s *standLedger) dump(nowMS int64) StandDump {
	d := StandDump{
		Stand: s.id, Version: s.version, Status: slices.Clone(s.status),
		Tiers: slices.Clone(s.counts), Owners: make(map[int]string, len(s.owners)),
		HeldBy: make(map[string]int, len(s.heldBy)), RowRun: slices.Clone(s.rowRun),
		TierRun: slices.Clone(s.tierRun),
		At:      time.UnixMilli(nowMS),
	}
	for _, h := range s.holds {
		d.Holds = append(d.Holds, h.hold(s.id))
	}
	slices.SortFunc(d.Holds, func(a, b Hold) int { return strings.Compare(a.ID, b.ID) })
	for k, v := range s.owners {
		d.Owners[k] = v
	}
	for k, v := range s.heldBy {
		d.HeldBy[k] = v
	}
	return d
}
