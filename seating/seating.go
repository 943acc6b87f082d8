// Package seating is Foyer's seat-lock service: venue maps, seat holds and
// sales that never sell a seat twice, and the seat map served from stand-
// and seat-level caches.
//
// The authoritative state of a stand — each seat's status packed two bits a
// seat in the stand's static order, the holds, a version that grows with
// every change, counts per price tier — is one serialisation point: in Redis
// every key of one stand shares one hash tag, and every change is one Lua
// script. Holds are all or nothing and are decided only there; caches and
// snapshots may only say no.
package seating

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Status is the state of one seat, two bits in the packed encoding.
type Status uint8

// Seat statuses. Their values are the two-bit codes of the encoding.
const (
	Free    Status = 0
	Held    Status = 1
	Sold    Status = 2
	Blocked Status = 3
)

// String returns the status's name.
func (s Status) String() string {
	switch s {
	case Free:
		return "free"
	case Held:
		return "held"
	case Sold:
		return "sold"
	case Blocked:
		return "blocked"
	}
	return fmt.Sprintf("status(%d)", uint8(s))
}

// Errors returned by stores. Callers branch on them with errors.Is; a
// conflict is also a *ConflictError with the seats taken.
var (
	// ErrUnavailable means the authoritative store could not be reached or
	// did not answer in time. The operation may be retried.
	ErrUnavailable = errors.New("seating: store unavailable")
	// ErrConflict means some requested seats are not free.
	ErrConflict = errors.New("seating: seats taken")
	// ErrNoSeats means best-available found no block of seats that fits.
	ErrNoSeats = errors.New("seating: no seats available")
	// ErrHoldNotFound means the hold does not exist, or expired and was
	// cleaned up.
	ErrHoldNotFound = errors.New("seating: hold not found")
	// ErrExpired means the hold exists but its time has run out.
	ErrExpired = errors.New("seating: hold expired")
	// ErrNotOwner means the hold belongs to another visitor.
	ErrNotOwner = errors.New("seating: hold belongs to another visitor")
	// ErrCapExceeded means the visitor would hold more seats than allowed.
	ErrCapExceeded = errors.New("seating: too many seats held")
	// ErrInvalid means a request is malformed: unknown stand or seat index,
	// empty or duplicate seats, a quantity out of range.
	ErrInvalid = errors.New("seating: invalid request")
	// ErrNotPrepared means the event's stand was never prepared.
	ErrNotPrepared = errors.New("seating: stand not prepared")
	// ErrConfirmed means the hold is confirmed: its seats are sold and it
	// can no longer be released or extended.
	ErrConfirmed = errors.New("seating: hold already confirmed")
)

// ConflictError is the error of a hold that found seats taken. It wraps
// ErrConflict.
type ConflictError struct {
	// Taken are the requested seat indexes that are not free.
	Taken []int
	// Version is the stand's version when the conflict was seen.
	Version uint64
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("seating: %d seats taken (stand version %d)", len(e.Taken), e.Version)
}

// Unwrap makes errors.Is(err, ErrConflict) true.
func (e *ConflictError) Unwrap() error { return ErrConflict }

// StandLayout is what a store needs to know of a stand: how many seats, the
// price tier of each seat in static order, and the seats blocked from sale.
type StandLayout struct {
	// ID names the stand within its event: [A-Za-z0-9_-]{1,32}.
	ID string
	// Tiers holds the tier number of each seat, in static order; its length
	// is the number of seats.
	Tiers []uint8
	// TierCount is the number of tiers of the venue; every Tiers value is
	// below it.
	TierCount int
	// Blocked are seat indexes never for sale (a camera position, a kill).
	Blocked []int
	// Rows gives, for best-available, the seat index where each row starts,
	// in order; seats of one row are adjacent in static order.
	Rows []int
}

// HoldRequest asks for seats of one stand for one visitor.
type HoldRequest struct {
	// Owner is the visitor id from the admission token.
	Owner string
	// Seats are the seat indexes wanted, all or nothing. When empty, the
	// store picks Quantity adjacent free seats of Tier in one row (best
	// available), avoiding leaving a single free seat stranded.
	Seats    []int
	Tier     int
	Quantity int
	// TTL is how long the hold lasts. Required.
	TTL time.Duration
	// MaxSeats caps the seats Owner may hold (not counting sold) in the
	// stand at once, this request included; 0 means no cap.
	MaxSeats int
	// Key, when set, is the client's idempotency key: while the hold made
	// by a first request of Owner with this Key lives (active and not
	// expired, or confirmed), a repeat returns that same hold, whatever
	// its seats, tier or quantity, and changes nothing. Without a Key, a
	// repeated hold conflicts on the seats the first one took. 1 to 64
	// bytes of printable ASCII without spaces or '|'.
	Key string
}

// HoldState is where a hold is in its life.
type HoldState uint8

// Hold states.
const (
	HoldActive HoldState = iota + 1
	HoldConfirmed
)

// Hold is a hold on seats of one stand.
type Hold struct {
	// ID identifies the hold; it names its stand, so later calls find the
	// stand's keys from the ID alone.
	ID        string
	Stand     string
	Owner     string
	Seats     []int
	State     HoldState
	ExpiresAt time.Time
	// Version is the stand's version right after the call.
	Version uint64
}

// TierCount counts a tier's seats of a stand by status.
type TierCount struct {
	Free, Held, Sold, Blocked int
}

// StandSnapshot is a stand's state at one version.
type StandSnapshot struct {
	Stand   string
	Version uint64
	// Status is the packed encoding: seat i's status in bits 2i..2i+1,
	// most significant first within each byte (Redis BITFIELD u2 order).
	Status []byte
	// Tiers are counts per tier number.
	Tiers []TierCount
	// At is the store's clock when the snapshot was taken.
	At time.Time
}

// Change is one seat's new status at a version of its stand.
type Change struct {
	Version uint64
	Seat    int
	Status  Status
}

// Store keeps the authoritative seat state. Implementations are safe for
// concurrent use by many goroutines and, for shared stores, by many
// processes. Every method that changes state is one atomic step per stand,
// timed by the store's own clock, and idempotent where noted.
type Store interface {
	// Prepare creates the state of event's stands (all free but Blocked)
	// if it does not exist yet and loads everything the other calls need,
	// so the first hold of an on-sale costs no set-up. It is idempotent and
	// never resets a stand that exists.
	Prepare(ctx context.Context, event string, stands []StandLayout) error
	// Hold takes req's seats for req.Owner, all or nothing. Seats of an
	// expired hold are reclaimed in the same step. A conflict returns a
	// *ConflictError naming the seats taken.
	Hold(ctx context.Context, event, stand string, req HoldRequest) (Hold, error)
	// Extend moves the hold's expiry to now + ttl, but never past its
	// creation + maxTotal, and never revives an expired hold.
	Extend(ctx context.Context, event, holdID, owner string, ttl, maxTotal time.Duration) (Hold, error)
	// Release frees the hold's seats. Releasing a hold that is gone is not
	// an error (idempotent); a confirmed hold cannot be released.
	Release(ctx context.Context, event, holdID, owner string) (version uint64, err error)
	// Confirm turns the hold's seats from held to sold. Confirming a
	// confirmed hold returns it again (idempotent); an expired hold fails
	// with ErrExpired.
	Confirm(ctx context.Context, event, holdID, owner string) (Hold, error)
	// Snapshot reads a stand's authoritative state, first releasing holds
	// that have expired.
	Snapshot(ctx context.Context, event, stand string) (StandSnapshot, error)
	// Changes returns the changes of a stand after version since, oldest
	// first, or ok false when the bounded change log no longer reaches back
	// that far (the caller reloads the snapshot).
	Changes(ctx context.Context, event, stand string, since uint64) (changes []Change, version uint64, ok bool, err error)
	// Ping reports whether the store answers.
	Ping(ctx context.Context) error
}
