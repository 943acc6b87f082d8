package queue

// This file is the verifiable pre-queue draw; its design and the exact
// algorithm are documented on DrawAlgorithm.

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"math"
	"slices"
	"time"
)

// DrawAlgorithm names the verifiable pre-queue draw, "foyer-draw-v1", and
// is written in every Commitment so that a later version can be told apart.
//
// At the start of a sale the members of the pre-queue (ticket ids or visitor
// ids, 1 to 64 bytes of [A-Za-z0-9_-] each) are put in a uniformly random
// order. So that nobody has to take the operator's word for it, the draw is
// committed to before the start and can be recomputed by anyone after it:
//
//  1. The operator draws a secret 32-byte seed from crypto/rand and, before
//     the sale starts, publishes a Commitment: the hex SHA-256 of the seed,
//     the hash of the membership snapshot and the number of members. The seed
//     hash should be published as early as possible (ideally when the
//     pre-queue opens): an operator who chose the seed after seeing who joined
//     could try many seeds until one favoured a friend.
//  2. At the start the order is computed with Shuffle from the seed and the
//     snapshot, and a Draw is published: the commitment, the seed and the
//     order.
//  3. Anyone checks a Draw with VerifyDraw (or foyer lottery verify FILE): the
//     seed hashes to the committed seed hash, the members of the order hash
//     to the committed membership hash, and the order is exactly the shuffle
//     of those members by that seed.
//
// The algorithm is defined here exactly, so that it can be reimplemented in
// any language. All integers are unsigned and big-endian; "||" is
// concatenation; strings are their ASCII bytes.
//
// Membership hash. The members are sorted in ascending byte order; a member
// that appears twice is an error. With n members m_1 < … < m_n,
//
//	members_hash = SHA-256("foyer-draw-v1/members" || u64(n) ||
//	                       u32(len(m_1)) || m_1 || … || u32(len(m_n)) || m_n)
//
// Random stream. The stream is the concatenation of the 32-byte blocks
//
//	block_k = HMAC-SHA256(key = seed, message = "foyer-draw-v1/stream" ||
//	                      members_hash || u64(k))    for k = 0, 1, 2, …
//
// where members_hash is the raw 32-byte digest. The stream is read 8 bytes at
// a time, each read giving a 64-bit integer x (so each block gives four).
//
// Bounded integers. A uniform integer in [0, b) for b ≥ 1 is drawn by
// rejection: let r = 2^64 mod b; read x until x ≤ 2^64 − 1 − r, then return
// x mod b. The accepted values are a multiple of b in number, so the result
// is unbiased (plain x mod b would favour small results).
//
// Shuffle. Start from the sorted members a[0..n−1]. For i = n−1 down to 1:
// draw j uniform in [0, i+1) and swap a[i] and a[j] (Fisher–Yates). The
// resulting a is the order: a[0] is the first in line. If the seed is secret
// and random until the draw, the order is a uniform random permutation,
// since HMAC-SHA256 under an unknown key is indistinguishable from a random
// function.
//
// The event name and the commitment time are labels of the published
// documents: they are not part of any hash, so they are trusted as far as the
// channel the commitment was published on.
const DrawAlgorithm = "foyer-draw-v1"

// DrawSeedSize is the size of a draw seed in bytes.
const DrawSeedSize = 32

// Errors of the draw. Every error NewCommitment, NewDraw, Shuffle and
// VerifyDraw return wraps one of them; callers branch with errors.Is and
// show the whole message, which says precisely what failed.
var (
	// ErrDrawMalformed means an input or a published document is not well
	// formed: an unknown algorithm, an invalid event name, a seed that is
	// not 32 bytes (64 hex digits), a hash that is not 64 hex digits, or a
	// member id that is invalid or appears twice.
	ErrDrawMalformed = errors.New("queue: draw: malformed")
	// ErrSeedMismatch means the published seed does not hash to the
	// committed seed hash.
	ErrSeedMismatch = errors.New("queue: draw: seed does not match the commitment")
	// ErrMembersMismatch means the members of the published order are not
	// the committed membership snapshot (count or hash).
	ErrMembersMismatch = errors.New("queue: draw: members do not match the commitment")
	// ErrOrderMismatch means the published order is not the shuffle of the
	// committed members by the published seed.
	ErrOrderMismatch = errors.New("queue: draw: order is not the shuffle of the seed")
)

// Commitment is what is published before the start of a sale: it binds the
// operator to a secret seed and to the membership snapshot of the pre-queue
// without revealing the seed. Its JSON field names are stable. It is a plain
// value, safe for concurrent reads.
type Commitment struct {
	// Algorithm is DrawAlgorithm.
	Algorithm string `json:"algorithm"`
	// Event is the event whose pre-queue is drawn.
	Event string `json:"event"`
	// SeedHash is the SHA-256 of the 32-byte seed, in lowercase hex.
	SeedHash string `json:"seed_hash"`
	// MembersHash is the membership hash (see the package doc), in
	// lowercase hex.
	MembersHash string `json:"members_hash"`
	// Members is the number of members in the snapshot.
	Members int `json:"members"`
	// CommittedAt is when the commitment was made.
	CommittedAt time.Time `json:"committed_at"`
}

// Draw is what is published after the draw: the commitment, the seed it
// committed to, and the resulting order, first in line first. Anyone can
// check it with VerifyDraw. Its JSON field names are stable; the commitment
// is nested under "commitment" so that it can be compared with the one
// published before the start. It is a plain value, safe for concurrent reads.
type Draw struct {
	Commitment `json:"commitment"`
	// Seed is the 32-byte seed in lowercase hex.
	Seed string `json:"seed"`
	// Order is the members in their drawn order.
	Order []string `json:"order"`
}

// NewCommitment commits to seed and to the membership snapshot members (in
// any order) of event at time at. seed must be DrawSeedSize bytes from
// crypto/rand, kept secret until the draw; members must be valid visitor ids
// (see ValidVisitor) with no duplicates.
func NewCommitment(event string, seed []byte, members []string, at time.Time) (Commitment, error) {
	if !ValidEvent(event) {
		return Commitment{}, fmt.Errorf("%w: invalid event name %q", ErrDrawMalformed, event)
	}
	if len(seed) != DrawSeedSize {
		return Commitment{}, fmt.Errorf("%w: seed is %d bytes, want %d", ErrDrawMalformed, len(seed), DrawSeedSize)
	}
	sorted, err := sortMembers(members)
	if err != nil {
		return Commitment{}, err
	}
	sh := sha256.Sum256(seed)
	mh := membersHash(sorted)
	return Commitment{
		Algorithm:   DrawAlgorithm,
		Event:       event,
		SeedHash:    hex.EncodeToString(sh[:]),
		MembersHash: hex.EncodeToString(mh[:]),
		Members:     len(sorted),
		CommittedAt: at,
	}, nil
}

// NewDraw draws the order of members with seed and returns the Draw to
// publish. It fails if seed or members are not those c committed to.
func NewDraw(c Commitment, seed []byte, members []string) (Draw, error) {
	order, err := Shuffle(seed, members)
	if err != nil {
		return Draw{}, err
	}
	d := Draw{Commitment: c, Seed: hex.EncodeToString(seed), Order: order}
	if err := VerifyDraw(d); err != nil {
		return Draw{}, err
	}
	return d, nil
}

// Shuffle returns members (in any order; the slice is not modified) in the
// order drawn by seed, first in line first, as defined in the package doc.
// The same seed and members always give the same order. seed must be
// DrawSeedSize bytes; members must be valid visitor ids with no duplicates.
func Shuffle(seed []byte, members []string) ([]string, error) {
	if len(seed) != DrawSeedSize {
		return nil, fmt.Errorf("%w: seed is %d bytes, want %d", ErrDrawMalformed, len(seed), DrawSeedSize)
	}
	a, err := sortMembers(members)
	if err != nil {
		return nil, err
	}
	mh := membersHash(a)
	s := newDrawStream(seed, mh)
	for i := len(a) - 1; i > 0; i-- {
		j := s.uniform(uint64(i) + 1)
		a[i], a[j] = a[j], a[i]
	}
	return a, nil
}

// VerifyDraw checks a published Draw: the algorithm is DrawAlgorithm, the
// seed hashes to SeedHash, the members of Order (sorted) are Members in
// number and hash to MembersHash, and Order is the shuffle of those members
// by the seed. It returns nil if all hold, or else an error saying which
// check failed first and how.
func VerifyDraw(d Draw) error {
	if d.Algorithm != DrawAlgorithm {
		return fmt.Errorf("%w: unknown algorithm %q, want %q", ErrDrawMalformed, d.Algorithm, DrawAlgorithm)
	}
	if !ValidEvent(d.Event) {
		return fmt.Errorf("%w: invalid event name %q", ErrDrawMalformed, d.Event)
	}
	seed, err := decodeHex("seed", d.Seed, DrawSeedSize)
	if err != nil {
		return err
	}
	seedHash, err := decodeHex("seed_hash", d.SeedHash, sha256.Size)
	if err != nil {
		return err
	}
	committedMembers, err := decodeHex("members_hash", d.MembersHash, sha256.Size)
	if err != nil {
		return err
	}
	if sh := sha256.Sum256(seed); !bytes32Equal(sh[:], seedHash) {
		return fmt.Errorf("%w: SHA-256 of the seed is %x, the commitment has %s", ErrSeedMismatch, sh, d.SeedHash)
	}
	sorted, err := sortMembers(d.Order)
	if err != nil {
		return err
	}
	if len(sorted) != d.Members {
		return fmt.Errorf("%w: the order has %d members, the commitment %d", ErrMembersMismatch, len(sorted), d.Members)
	}
	mh := membersHash(sorted)
	if !bytes32Equal(mh[:], committedMembers) {
		return fmt.Errorf("%w: the members of the order hash to %x, the commitment has %s", ErrMembersMismatch, mh, d.MembersHash)
	}
	want, err := Shuffle(seed, d.Order)
	if err != nil {
		return err
	}
	for i := range want {
		if d.Order[i] != want[i] {
			return fmt.Errorf("%w: position %d (0-based) is %q, want %q", ErrOrderMismatch, i, d.Order[i], want[i])
		}
	}
	return nil
}

// bytes32Equal compares two digests. Nothing here is secret once published,
// so a constant-time comparison is not needed.
func bytes32Equal(a, b []byte) bool { return string(a) == string(b) }

// decodeHex decodes the hex field name, which must be size bytes.
func decodeHex(name, s string, size int) ([]byte, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != size {
		return nil, fmt.Errorf("%w: %s is not %d hex digits: %q", ErrDrawMalformed, name, 2*size, s)
	}
	return b, nil
}

// sortMembers returns a sorted copy of members, checking each id and
// rejecting duplicates.
func sortMembers(members []string) ([]string, error) {
	a := slices.Clone(members)
	if a == nil {
		a = []string{}
	}
	for i, m := range a {
		if !ValidVisitor(m) {
			return nil, fmt.Errorf("%w: member %d %q is not 1 to 64 bytes of [A-Za-z0-9_-]", ErrDrawMalformed, i, m)
		}
	}
	slices.Sort(a)
	for i := 1; i < len(a); i++ {
		if a[i] == a[i-1] {
			return nil, fmt.Errorf("%w: member %q appears twice", ErrDrawMalformed, a[i])
		}
	}
	return a, nil
}

// membersHash is the membership hash of sorted, which must be sorted and
// without duplicates.
func membersHash(sorted []string) [sha256.Size]byte {
	h := sha256.New()
	var n [8]byte
	h.Write([]byte("foyer-draw-v1/members"))
	binary.BigEndian.PutUint64(n[:], uint64(len(sorted)))
	h.Write(n[:])
	buf := make([]byte, 0, 4+maxName)
	for _, m := range sorted {
		buf = binary.BigEndian.AppendUint32(buf[:0], uint32(len(m)))
		buf = append(buf, m...)
		h.Write(buf)
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

// drawStream is the random stream of the draw: HMAC-SHA256 blocks read 8
// bytes at a time. It is not safe for concurrent use.
type drawStream struct {
	mac   hash.Hash
	msg   []byte // "foyer-draw-v1/stream" || members_hash || u64(k)
	block [sha256.Size]byte
	off   int    // next unread byte of block
	k     uint64 // index of the next block
}

const streamLabel = "foyer-draw-v1/stream"

func newDrawStream(seed []byte, membersHash [sha256.Size]byte) *drawStream {
	s := &drawStream{mac: hmac.New(sha256.New, seed), off: sha256.Size}
	s.msg = make([]byte, 0, len(streamLabel)+sha256.Size+8)
	s.msg = append(s.msg, streamLabel...)
	s.msg = append(s.msg, membersHash[:]...)
	s.msg = append(s.msg, make([]byte, 8)...)
	return s
}

// next returns the next 64-bit integer of the stream.
func (s *drawStream) next() uint64 {
	if s.off == len(s.block) {
		binary.BigEndian.PutUint64(s.msg[len(s.msg)-8:], s.k)
		s.k++
		s.mac.Reset()
		s.mac.Write(s.msg)
		s.mac.Sum(s.block[:0])
		s.off = 0
	}
	x := binary.BigEndian.Uint64(s.block[s.off:])
	s.off += 8
	return x
}

// uniform returns an unbiased integer in [0, b), b ≥ 1, by rejection.
func (s *drawStream) uniform(b uint64) uint64 {
	r := -b % b // 2^64 mod b
	for {
		if x := s.next(); x <= math.MaxUint64-r {
			return x % b
		}
	}
}
