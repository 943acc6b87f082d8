// Package queue owns the per-event lines of Foyer: signed queue tickets, the
// ticket and serving counters, positions, the active-session cap, the
// pre-queue and its draw, and lanes.
//
// A line is two counters kept by a Store. Joining takes the next sequence
// number from the tail counter; admission advances the serving counter by
// rate × elapsed in one atomic step timed by the store's own clock. A visitor
// whose sequence number is at most the serving counter has had their turn; the
// position of any other is Seq − Serving (1 = next).
//
// Every state change is one atomic step of the store (a Lua script in Redis),
// so any number of proxies may join and advance the same line without a
// leader. A line carries an epoch: when a store loses a line (a Redis restart
// without persistence) the next call re-creates it from the caller's last
// known State under a new epoch, so no sequence number is ever handed to two
// visitors and the places already issued keep their order (see State.Place).
//
// Two limits bound admission: the rate, and Control.MaxActive, a cap on
// active sessions plus turns granted and not yet claimed. A visitor claims
// their turn (Store.Claim) when admitted; a turn not claimed within the
// claim window is abandoned and its slot reissued; the origin may end a
// session early (Store.EndSession).
//
// A line created with Seed.PrequeueClosesAt holds a pre-queue until its
// draw, then is numbered by a verifiable draw (DrawAlgorithm, RunDraw). A line
// created with Seed.Lanes deals its numbers to weighted lanes (Lanes).
package queue

import (
	"context"
	"errors"
	"time"
)

// Errors returned by stores. Callers branch on them with errors.Is.
var (
	// ErrUnavailable means the store could not be reached or did not answer
	// in time. The operation may be retried.
	ErrUnavailable = errors.New("queue: store unavailable")
	// ErrInvalidEvent means an event name is empty, longer than 64 bytes or
	// uses characters outside [a-z0-9_-] (event names become part of store
	// keys and tickets).
	ErrInvalidEvent = errors.New("queue: invalid event name")
	// ErrInvalidVisitor means a visitor id is empty, longer than 64 bytes or
	// uses characters outside [A-Za-z0-9_-].
	ErrInvalidVisitor = errors.New("queue: invalid visitor id")
	// ErrSoldOut means the line is sold out (Control.SoldOut): newcomers
	// cannot join and turns cannot be claimed.
	ErrSoldOut = errors.New("queue: sold out")
	// ErrTurnOver means a turn can no longer be claimed: it was abandoned
	// (not claimed within Control.ClaimWindow, so its slot went to the next
	// visitor) or its session was ended. The visitor's place is released;
	// joining again gives a new one at the tail.
	ErrTurnOver = errors.New("queue: turn over: abandoned or session ended")
	// ErrNotTurn means a claim was made for a ticket whose turn has not come
	// (or a pre-queue ticket with no number yet).
	ErrNotTurn = errors.New("queue: not this ticket's turn")
	// ErrNotStarted means the pre-queue of a line cannot be read for its
	// draw yet: it has not closed, so its membership may still change.
	ErrNotStarted = errors.New("queue: the sale has not started")
	// ErrNoDraw means a line has no published draw: it has no pre-queue or
	// has not been drawn yet.
	ErrNoDraw = errors.New("queue: no draw")
	// ErrControlChanged means SwapControl found another control than the
	// one it was given: someone changed it since it was read.
	ErrControlChanged = errors.New("queue: the control changed since it was read")
	// ErrDrawMismatch means ApplyDraw was given an order that is not exactly
	// the line's pre-queue membership.
	ErrDrawMismatch = errors.New("queue: draw order does not match the pre-queue")
)

// Control is what admission decided for a line: how fast the serving counter
// advances. It is kept in the store so every proxy advances at the same rate
// and a change made on one proxy takes effect everywhere at the next step.
type Control struct {
	// RatePerSecond is how many sequence numbers the serving counter
	// advances per second of store time. Zero admits nobody.
	RatePerSecond float64
	// Paused stops the serving counter. Time spent paused accrues nothing,
	// so resuming does not release a burst.
	Paused bool
	// SoldOut stops the line for good (until an operator reopens it): the
	// serving counter stops as when paused, newcomers get ErrSoldOut from
	// Join and turns not yet claimed get ErrSoldOut from Claim.
	SoldOut bool
	// MaxActive caps the visitors let in at once: active sessions plus
	// turns granted and not yet claimed. Zero means no cap. While the cap is
	// reached the serving counter stands still and the capacity accrued
	// meanwhile is dropped, so freed slots are refilled at the rate, not in
	// a burst.
	MaxActive int
	// SessionTTL is how long a claimed session stays active after its claim
	// or last renewal. Zero means a minute.
	SessionTTL time.Duration
	// ClaimWindow is how long a turn granted under a cap waits to be
	// claimed: after it the turn is abandoned and its slot reissued. Zero
	// means a minute.
	ClaimWindow time.Duration
}

// State is a snapshot of one event's line as the store saw it at At.
type State struct {
	// Epoch identifies this incarnation of the line. It is taken from the
	// store's clock (microseconds) when the line is created and only grows.
	Epoch uint64
	// Serving is the highest sequence number whose turn has come.
	Serving uint64
	// Tail is the highest sequence number issued so far.
	Tail uint64
	// PrevEpoch and Carried describe a re-created line: tickets of PrevEpoch
	// with Seq ≤ Carried keep their place in this epoch, because the new
	// epoch issues only numbers above Carried. Both are zero for a line that
	// was never lost.
	PrevEpoch uint64
	Carried   uint64
	// Control is the admission control in force.
	Control Control
	// Active is the number of active sessions (claimed turns not ended or
	// expired), Pending the number of turns granted under a cap and not yet
	// claimed, and Abandoned the number of turns abandoned so far in this
	// epoch.
	Active, Pending, Abandoned uint64
	// Prequeue reports that the line awaits the draw of its pre-queue:
	// Members visitors joined before the sale start and Late after it; they
	// hold no number until ApplyDraw.
	Prequeue      bool
	Members, Late uint64
	// Lanes are the line's lanes, nil for a line of one lane.
	Lanes *Lanes
	// At is the store's clock when this state was read.
	At time.Time
}

// Waiting returns how many issued sequence numbers have not had their turn.
func (s State) Waiting() uint64 {
	if s.Tail <= s.Serving {
		return 0
	}
	if s.Lanes != nil {
		return s.Lanes.Filled(s.Serving, s.Tail)
	}
	return s.Tail - s.Serving
}

// Seed is what a caller knows when it calls a store: if the store has lost the
// line (or never had it), the line is created from Seed. Last is the caller's
// most recent State of the line (zero if it has none); Control is used when
// Last has never been seen.
type Seed struct {
	Last    State
	Control Control
	// PrequeueClosesAt, when not zero, gives a line created before its
	// draw a pre-queue: visitors who join before it are drawn in a random
	// order (see DrawAlgorithm), those who join after it queue behind them
	// in arrival order. Its membership is frozen from then on, for the
	// commitment and the draw. It is read when a line is created; a line
	// re-created from a Last that was drawn is not drawn again.
	PrequeueClosesAt time.Time
	// Lanes, when not empty, are the weights of the lanes a line created
	// from this seed splits its admissions between (see Lanes); a line
	// with a pre-queue has none. Lane is the lane a visitor joins (an index
	// into Lanes; 0 without lanes).
	Lanes []int
	Lane  int
}

// Entry is the result of Join.
type Entry struct {
	// Seq is the visitor's sequence number in State.Epoch.
	Seq uint64
	// Existing reports that the visitor already had a place in this epoch,
	// which Join returned instead of making a new one.
	Existing bool
	// Pre reports that the line awaits its draw: the visitor is in the
	// pre-queue (or behind it, having joined after the start) and Seq is
	// zero. Joining again after ApplyDraw returns the number drawn.
	Pre bool
	// State is the line right after the join.
	State State
}

// Store keeps lines. Implementations are safe for concurrent use by many
// goroutines and, for shared stores, by many processes.
type Store interface {
	// Join gives visitor a place at the tail of event's line, or returns the
	// place the visitor already has in the current epoch. It never issues a
	// sequence number twice within an epoch, nor a number at or below
	// State.Carried in a re-created epoch. A newcomer to an empty line
	// first settles it (as Advance would), so the time the line stood
	// empty admits nobody.
	Join(ctx context.Context, event, visitor string, seed Seed) (Entry, error)
	// Advance moves the serving counter by rate × elapsed store time since
	// the previous advance (by any caller), keeping the fractional remainder,
	// and caps it at the tail. Capacity that finds the line empty is not
	// banked. It returns the line after the step.
	Advance(ctx context.Context, event string, seed Seed) (State, error)
	// SetControl changes the control of event's line. It takes effect at the
	// next Advance: time before the change accrues at the old rate.
	SetControl(ctx context.Context, event string, c Control, seed Seed) (State, error)
	// SwapControl is SetControl if the line's control is still old, and
	// ErrControlChanged (changing nothing) if not: an automatic decision
	// never overwrites an operator's change made since it read the line.
	SwapControl(ctx context.Context, event string, old, c Control, seed Seed) (State, error)

	// Claim turns the turn of ticket t into an active session, or renews
	// the session t's visitor already has (for Control.SessionTTL from
	// now). It fails with ErrNotTurn before t's turn, ErrSoldOut on a sold
	// out line (renewals still succeed) and ErrTurnOver when the turn was
	// abandoned or its session ended; the visitor's place is then released.
	Claim(ctx context.Context, event string, t Ticket, seed Seed) (State, error)
	// EndSession ends visitor's session at once, freeing its slot, and
	// releases the visitor's place: their ticket's turn is over. Ending a
	// session that does not exist is not an error.
	EndSession(ctx context.Context, event, visitor string, seed Seed) (State, error)

	// DrawSeed returns the secret seed of event's pre-queue draw, storing
	// candidate (DrawSeedSize bytes from crypto/rand) if the line has none
	// yet, so every caller draws with the first seed stored.
	DrawSeed(ctx context.Context, event string, candidate []byte) ([]byte, error)
	// Prequeue returns the member ids (see MemberID) of event's pre-queue,
	// frozen once the sale has started. It fails with ErrNotStarted before
	// Seed.PrequeueClosesAt by the store's clock. A line already drawn returns
	// no members and State.Prequeue false.
	Prequeue(ctx context.Context, event string, seed Seed) ([]string, State, error)
	// ApplyDraw numbers event's pre-queue in order (which must hold exactly
	// the members Prequeue returns, else ErrDrawMismatch), then those who
	// joined after the start in arrival order, and keeps doc, the published
	// draw, for DrawDocument. The serving counter starts accruing then. On a
	// line already drawn it changes nothing and returns its state, so any
	// number of callers may apply the same draw.
	ApplyDraw(ctx context.Context, event string, order []string, doc []byte, seed Seed) (State, error)
	// DrawDocument returns the doc given to ApplyDraw, or ErrNoDraw.
	DrawDocument(ctx context.Context, event string) ([]byte, error)

	// Record appends entry to event's journal, keeping its newest max
	// entries. The journal is what must be traceable from every proxy:
	// the proxies record their operators' changes there.
	Record(ctx context.Context, event string, entry []byte, max int) error
	// Journal returns the newest n entries of event's journal, newest
	// first.
	Journal(ctx context.Context, event string, n int) ([][]byte, error)

	// Lead makes holder the leader of role for event for ttl, or extends
	// its lead, and reports whether holder leads. Work that needs one
	// decider among many proxies (the adaptive controller) runs on the
	// leader only; a leader that stops renewing is replaced after ttl.
	Lead(ctx context.Context, event, role, holder string, ttl time.Duration) (bool, error)

	// Ping reports whether the store answers.
	Ping(ctx context.Context) error
	// Close releases the store's resources.
	Close() error
}

// Standing is where a ticket stands in a line.
type Standing int

// The standings of a ticket.
const (
	// Waiting: the ticket's turn has not come; Place also returns its
	// position (1 = next).
	Waiting Standing = iota
	// Turn: the ticket's sequence number is at or below the serving counter.
	Turn
	// Lost: the ticket belongs to an epoch whose places were not carried
	// into the current one; its holder must join again.
	Lost
	// Pre: the ticket is a pre-queue ticket (Seq 0); its holder gets a
	// number when the pre-queue is drawn, by joining again.
	Pre
)

// String returns the standing's name.
func (s Standing) String() string {
	switch s {
	case Waiting:
		return "waiting"
	case Turn:
		return "turn"
	case Lost:
		return "lost"
	case Pre:
		return "pre"
	}
	return "unknown"
}

// Place reports where ticket t stands in line s. A ticket of the current
// epoch, or of PrevEpoch with Seq ≤ Carried, keeps its sequence number. A
// ticket of a newer epoch than s (s is an older cached state) is placed by
// its sequence number too, since numbers only grow across epochs. Any other
// ticket is Lost.
func (s State) Place(t Ticket) (Standing, uint64) {
	if t.Seq == 0 {
		return Pre, 0
	}
	switch {
	case t.Epoch == s.Epoch, t.Epoch > s.Epoch:
	case s.PrevEpoch != 0 && t.Epoch == s.PrevEpoch && t.Seq <= s.Carried:
	default:
		return Lost, 0
	}
	if t.Seq <= s.Serving {
		return Turn, 0
	}
	if s.Lanes != nil {
		// Numbers of lanes nobody joined are skipped: only those issued
		// are ahead.
		return Waiting, s.Lanes.Filled(s.Serving, t.Seq-1) + 1
	}
	return Waiting, t.Seq - s.Serving
}
