package queue

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"sync"
	"time"
)

// Errors returned by TicketSigner.Parse. They are returned as they are (never
// wrapped), so a hot path may compare them with == as well as errors.Is.
var (
	// ErrTicketMalformed means the text is not a ticket of a known version.
	ErrTicketMalformed = errors.New("queue: malformed ticket")
	// ErrTicketSignature means the ticket's MAC does not match its content:
	// it was forged, altered or signed with another secret of the same id.
	ErrTicketSignature = errors.New("queue: bad ticket signature")
	// ErrTicketUnknownKey means the ticket names a key the signer does not
	// hold, e.g. one retired by a key rotation.
	ErrTicketUnknownKey = errors.New("queue: ticket signed with an unknown key")
)

// Ticket is a visitor's place in a line, as signed into a queue ticket.
type Ticket struct {
	// Event is the event whose line the ticket belongs to (ValidEvent).
	Event string
	// Visitor is the visitor id the ticket was issued to (ValidVisitor).
	Visitor string
	// Seq is the visitor's sequence number in Epoch.
	Seq uint64
	// Epoch is the epoch of the line that issued Seq (State.Epoch).
	Epoch uint64
	// IssuedAt is when the ticket was issued. It is encoded with second
	// precision; Parse returns it in UTC.
	IssuedAt time.Time
}

// TicketKey is a named HMAC secret for queue tickets.
type TicketKey struct {
	// ID names the key inside every ticket it signs, so a verifier can
	// pick the key without trying each. It matches [A-Za-z0-9_-]{1,16}.
	ID string
	// Secret is the HMAC-SHA256 secret, at least 32 bytes of randomness.
	Secret []byte
}

// Limits of the ticket encoding.
const (
	// MinTicketSecret is the shortest secret a TicketKey may have.
	MinTicketSecret = 32
	// MaxTicketLen is the longest text Sign produces and Parse accepts.
	MaxTicketLen = len(ticketVersion) + maxKeyID + 1 + maxPayloadB64 + 1 + macB64Len

	maxKeyID      = 16
	maxName       = 64
	ticketVersion = "v1."
	// maxPayload is event|visitor|seq|epoch|iat at their longest: two
	// names, two uint64 and one negative int64 in decimal, four bars.
	maxPayload    = maxName + 1 + maxName + 1 + 20 + 1 + 20 + 1 + 20
	maxPayloadB64 = (maxPayload*8 + 5) / 6
	macB64Len     = (sha256.Size*8 + 5) / 6
)

// b64 is strict so every ticket has exactly one encoding; the line breaks
// that even a strict decoder skips are refused earlier by ticketChars.
var b64 = base64.RawURLEncoding.Strict()

// TicketSigner signs and verifies queue tickets with HMAC-SHA256. A ticket is
// the text
//
//	v1.<key id>.<base64url(event|visitor|seq|epoch|iat)>.<base64url(mac)>
//
// where the MAC covers everything before the last dot, so the key id is
// authenticated too. The text uses only [A-Za-z0-9_.-] and is safe in URLs,
// cookies and headers as it is.
//
// A TicketSigner is immutable and safe for concurrent use.
type TicketSigner struct {
	active *ticketKey
	keys   []*ticketKey // active first; few, so a scan beats a map
}

// ticketKey is one key with a pool of keyed hashes, since hmac.New costs
// several allocations and Parse runs on every status poll.
type ticketKey struct {
	id   string
	pool sync.Pool // of *ticketMAC
}

// ticketMAC is a keyed hash with scratch space, so signing and parsing need
// no allocation of their own.
type ticketMAC struct {
	h       hash.Hash
	sum     [sha256.Size]byte
	mac     [sha256.Size]byte
	payload [maxPayload]byte
	text    [MaxTicketLen]byte
}

// NewTicketSigner returns a signer that signs with active and verifies
// tickets signed by active or by any of verifyOnly. To rotate keys, deploy
// the new key as verifyOnly everywhere first, then make it active and keep
// the old one as verifyOnly until its tickets are no longer needed.
func NewTicketSigner(active TicketKey, verifyOnly ...TicketKey) (*TicketSigner, error) {
	s := &TicketSigner{}
	for i, k := range append([]TicketKey{active}, verifyOnly...) {
		if !validKeyID(k.ID) {
			return nil, fmt.Errorf("queue: ticket key id %q: want 1 to %d of [A-Za-z0-9_-]", k.ID, maxKeyID)
		}
		if len(k.Secret) < MinTicketSecret {
			return nil, fmt.Errorf("queue: ticket key %q: secret is %d bytes, want at least %d", k.ID, len(k.Secret), MinTicketSecret)
		}
		for _, prev := range s.keys {
			if prev.id == k.ID {
				return nil, fmt.Errorf("queue: ticket key id %q given twice", k.ID)
			}
		}
		secret := bytes.Clone(k.Secret)
		tk := &ticketKey{id: k.ID}
		tk.pool.New = func() any { return &ticketMAC{h: hmac.New(sha256.New, secret)} }
		s.keys = append(s.keys, tk)
		if i == 0 {
			s.active = tk
		}
	}
	return s, nil
}

// KeyID returns the id of the key the signer signs with.
func (s *TicketSigner) KeyID() string { return s.active.id }

// Append appends the signed text of t to dst and returns the extended
// buffer. t.Event and t.Visitor must be valid (ValidEvent, ValidVisitor):
// the text of a ticket with invalid names is signed but never parses.
func (s *TicketSigner) Append(dst []byte, t Ticket) []byte {
	m := s.active.pool.Get().(*ticketMAC)
	dst = s.active.appendTicket(m, dst, t)
	s.active.pool.Put(m)
	return dst
}

// Sign returns the signed text of t. See Append for what t must hold.
func (s *TicketSigner) Sign(t Ticket) string {
	m := s.active.pool.Get().(*ticketMAC)
	text := string(s.active.appendTicket(m, m.text[:0], t))
	s.active.pool.Put(m)
	return text
}

func (k *ticketKey) appendTicket(m *ticketMAC, dst []byte, t Ticket) []byte {
	start := len(dst)
	dst = append(dst, ticketVersion...)
	dst = append(dst, k.id...)
	dst = append(dst, '.')
	p := m.payload[:0]
	p = append(p, t.Event...)
	p = append(p, '|')
	p = append(p, t.Visitor...)
	p = append(p, '|')
	p = strconv.AppendUint(p, t.Seq, 10)
	p = append(p, '|')
	p = strconv.AppendUint(p, t.Epoch, 10)
	p = append(p, '|')
	p = strconv.AppendInt(p, t.IssuedAt.Unix(), 10)
	dst = b64.AppendEncode(dst, p)
	m.h.Reset()
	m.h.Write(dst[start:])
	dst = append(dst, '.')
	return b64.AppendEncode(dst, m.h.Sum(m.sum[:0]))
}

// Parse verifies the ticket text b and returns the ticket. It returns
// ErrTicketMalformed, ErrTicketUnknownKey or ErrTicketSignature, the key
// checked before any MAC is computed. It does not keep b. Only a canonical
// text is accepted, so a ticket that parses signs (with the same key) to
// exactly b again.
func (s *TicketSigner) Parse(b []byte) (Ticket, error) {
	if len(b) > MaxTicketLen || !bytes.HasPrefix(b, []byte(ticketVersion)) {
		return Ticket{}, ErrTicketMalformed
	}
	for _, c := range b {
		if !ticketChars[c] {
			return Ticket{}, ErrTicketMalformed
		}
	}
	rest := b[len(ticketVersion):]
	i := bytes.IndexByte(rest, '.')
	if i < 1 || i > maxKeyID {
		return Ticket{}, ErrTicketMalformed
	}
	var k *ticketKey
	for _, c := range s.keys {
		if string(rest[:i]) == c.id {
			k = c
			break
		}
	}
	if k == nil {
		return Ticket{}, ErrTicketUnknownKey
	}
	rest = rest[i+1:]
	i = bytes.IndexByte(rest, '.')
	if i < 0 || i > maxPayloadB64 || len(rest)-i-1 != macB64Len {
		return Ticket{}, ErrTicketMalformed
	}
	signed := b[:len(b)-macB64Len-1]
	m := k.pool.Get().(*ticketMAC)
	defer k.pool.Put(m)
	if n, err := b64.Decode(m.mac[:], rest[i+1:]); err != nil || n != sha256.Size {
		return Ticket{}, ErrTicketMalformed
	}
	n, err := b64.Decode(m.payload[:], rest[:i])
	if err != nil {
		return Ticket{}, ErrTicketMalformed
	}
	m.h.Reset()
	m.h.Write(signed)
	if !hmac.Equal(m.h.Sum(m.sum[:0]), m.mac[:]) {
		return Ticket{}, ErrTicketSignature
	}
	return parsePayload(m.payload[:n])
}

// parsePayload parses event|visitor|seq|epoch|iat, accepting only what
// appendTicket writes.
func parsePayload(p []byte) (Ticket, error) {
	var fields [5][]byte
	for i := range 4 {
		j := bytes.IndexByte(p, '|')
		if j < 0 {
			return Ticket{}, ErrTicketMalformed
		}
		fields[i], p = p[:j], p[j+1:]
	}
	fields[4] = p
	if !validName(fields[0], &eventChars) || !validName(fields[1], &visitorChars) {
		return Ticket{}, ErrTicketMalformed
	}
	seq, ok1 := parseUint(fields[2])
	epoch, ok2 := parseUint(fields[3])
	iat, ok3 := parseInt(fields[4])
	if !ok1 || !ok2 || !ok3 {
		return Ticket{}, ErrTicketMalformed
	}
	// One string for both names: a status poll allocates once.
	names := string(fields[0]) + string(fields[1])
	return Ticket{
		Event:    names[:len(fields[0])],
		Visitor:  names[len(fields[0]):],
		Seq:      seq,
		Epoch:    epoch,
		IssuedAt: time.Unix(iat, 0).UTC(),
	}, nil
}

// parseUint parses canonical decimal: no sign, no leading zero but in "0".
func parseUint(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 20 || (b[0] == '0' && len(b) > 1) {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if n > (1<<64-1-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// parseInt parses canonical signed decimal as strconv.AppendInt writes it.
func parseInt(b []byte) (int64, bool) {
	if len(b) > 0 && b[0] == '-' {
		u, ok := parseUint(b[1:])
		if !ok || u == 0 || u > 1<<63 {
			return 0, false
		}
		return int64(-u), true
	}
	u, ok := parseUint(b)
	if !ok || u > 1<<63-1 {
		return 0, false
	}
	return int64(u), true
}

var (
	eventChars   = charset("abcdefghijklmnopqrstuvwxyz0123456789_-")
	visitorChars = charset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
	ticketChars  = charset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.")
)

func charset(s string) (set [256]bool) {
	for i := range len(s) {
		set[s[i]] = true
	}
	return set
}

func validName[T string | []byte](s T, set *[256]bool) bool {
	if len(s) == 0 || len(s) > maxName {
		return false
	}
	for i := range len(s) {
		if !set[s[i]] {
			return false
		}
	}
	return true
}

func validKeyID(id string) bool {
	return len(id) <= maxKeyID && validName(id, &visitorChars)
}

// ValidEvent reports whether name may name an event: 1 to 64 bytes of
// [a-z0-9_-]. Event names become part of store keys and of tickets.
func ValidEvent(name string) bool { return validName(name, &eventChars) }

// ValidVisitor reports whether id may identify a visitor: 1 to 64 bytes of
// [A-Za-z0-9_-].
func ValidVisitor(id string) bool { return validName(id, &visitorChars) }

// NewVisitorID returns a new random visitor id: 128 bits from crypto/rand in
// unpadded base64url (22 bytes). It is valid per ValidVisitor.
func NewVisitorID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails since Go 1.24; see crypto/rand.Read
	return base64.RawURLEncoding.EncodeToString(b[:])
}
