package queue

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// MemberID is the id under which visitor takes part in a pre-queue draw:
// the first 16 bytes of SHA-256("foyer-member-v1/" || visitor) in unpadded
// base64url (22 characters). The published draw lists member ids rather
// than visitor ids, since a visitor id names a place in the line and must
// stay secret; a fan who knows their visitor id can find themselves in the
// published order, nobody else can.
func MemberID(visitor string) string {
	h := sha256.Sum256([]byte("foyer-member-v1/" + visitor))
	return base64.RawURLEncoding.EncodeToString(h[:16])
}

// ErrInvalidLead means Lead was given an empty role or holder, one longer
// than 64 bytes, or a ttl under a millisecond.
var ErrInvalidLead = errors.New("queue: invalid lead: role and holder must be 1 to 64 bytes, ttl at least 1ms")

// ErrInvalidRecord means a journal entry is empty or over 64 KiB, or the
// journal's size is not between 1 and 100,000.
var ErrInvalidRecord = errors.New("queue: invalid journal record: 1 byte to 64 KiB, kept 1 to 100000")

func validRecord(event string, entry []byte, max int) error {
	if !ValidEvent(event) {
		return ErrInvalidEvent
	}
	if len(entry) == 0 || len(entry) > 64<<10 || max < 1 || max > 100_000 {
		return ErrInvalidRecord
	}
	return nil
}

func validLead(event, role, holder string, ttl time.Duration) error {
	if !ValidEvent(event) {
		return ErrInvalidEvent
	}
	if role == "" || len(role) > 64 || holder == "" || len(holder) > 64 || ttl < time.Millisecond {
		return ErrInvalidLead
	}
	return nil
}

// SeedCommitment is what is published while the pre-queue is open, before
// the membership is known: the draw algorithm and the SHA-256 of the seed
// the draw will use. Binding the seed before anyone joins is what keeps the
// operator from choosing a seed that favours a member.
type SeedCommitment struct {
	Algorithm string `json:"algorithm"`
	Event     string `json:"event"`
	SeedHash  string `json:"seed_hash"`
}

// CommitSeed returns the seed commitment of event's draw, storing a new
// random seed in store if the event has none yet.
func CommitSeed(ctx context.Context, store Store, event string) (SeedCommitment, error) {
	seed, err := drawSeed(ctx, store, event)
	if err != nil {
		return SeedCommitment{}, err
	}
	sh := sha256.Sum256(seed)
	return SeedCommitment{Algorithm: DrawAlgorithm, Event: event, SeedHash: fmt.Sprintf("%x", sh)}, nil
}

// CommitMembers returns the commitment to event's draw once its pre-queue
// has closed: the seed's hash and the frozen membership's hash and size,
// made at seed.PrequeueClosesAt. Every caller computes the same commitment,
// so every proxy can publish it before the draw. ok is false for a line
// already drawn. It fails with ErrNotStarted before the pre-queue closes.
func CommitMembers(ctx context.Context, store Store, event string, seed Seed) (c Commitment, ok bool, err error) {
	p, err := prepareDraw(ctx, store, event, seed)
	return p.commitment, err == nil && p.state.Prequeue, err
}

// preparedDraw is what a draw is made of.
type preparedDraw struct {
	state      State
	members    []string
	secret     []byte
	commitment Commitment
}

// prepareDraw reads the frozen membership and the seed of event's draw and
// commits to them. On a line already drawn it returns only the state.
func prepareDraw(ctx context.Context, store Store, event string, seed Seed) (preparedDraw, error) {
	var p preparedDraw
	var err error
	if p.members, p.state, err = store.Prequeue(ctx, event, seed); err != nil || !p.state.Prequeue {
		return p, err
	}
	if p.secret, err = drawSeed(ctx, store, event); err != nil {
		return p, err
	}
	p.commitment, err = NewCommitment(event, p.secret, p.members, seed.PrequeueClosesAt.UTC())
	return p, err
}

func drawSeed(ctx context.Context, store Store, event string) ([]byte, error) {
	candidate := make([]byte, DrawSeedSize)
	_, _ = rand.Read(candidate) // crypto/rand.Read never fails
	return store.DrawSeed(ctx, event, candidate)
}

// RunDraw draws event's pre-queue once it has closed: it reads the frozen
// membership, commits to it and to the stored seed, shuffles, and applies
// the order with the published Draw as its document. It returns the
// line after the draw and the Draw (zero when the line had no draw to make).
// Any number of callers may run it at once: the seed is the stored one, so
// every caller computes the same order, and ApplyDraw applies it once.
// It fails with ErrNotStarted before the pre-queue closes.
func RunDraw(ctx context.Context, store Store, event string, seed Seed) (State, Draw, error) {
	p, err := prepareDraw(ctx, store, event, seed)
	if err != nil || !p.state.Prequeue {
		return p.state, Draw{}, err
	}
	d, err := NewDraw(p.commitment, p.secret, p.members)
	if err != nil {
		return State{}, Draw{}, err
	}
	doc, err := json.Marshal(d)
	if err != nil {
		return State{}, Draw{}, fmt.Errorf("queue: encoding the draw: %w", err)
	}
	st, err := store.ApplyDraw(ctx, event, d.Order, doc, seed)
	if err != nil {
		return State{}, Draw{}, err
	}
	return st, d, nil
}
