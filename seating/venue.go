package seating

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"strconv"
	"sync"
	"unicode/utf8"
)

// Limits of a venue, checked by Validate.
const (
	// MaxStands is the most stands a venue may have.
	MaxStands = 1024
	// MaxStandSeats is the most seats one stand may have. A stand is one
	// serialisation point of the seat state, and its packed status (two bits
	// a seat) is one value of at most 25,000 bytes.
	MaxStandSeats = 100_000
	// MaxVenueSeats is the most seats a venue may have in all stands.
	MaxVenueSeats = 1_000_000
	// MaxTiers is the most price tiers a venue may have: a seat's tier is
	// one byte of a StandLayout.
	MaxTiers = 256
)

// Lengths of the names and ids of a venue, checked by Validate. Ids use only
// [A-Za-z0-9_-], so they are safe in URLs, Redis keys and hold ids.
const (
	maxVenueNameLen = 200
	maxStandIDLen   = 32 // as StandLayout.ID
	maxRowIDLen     = 32
	maxTierIDLen    = 32
	maxSeatIDLen    = 64
)

// ErrInvalidVenue is wrapped by every error of Validate and ParseVenue that
// is about the venue's content rather than its JSON syntax.
var ErrInvalidVenue = errors.New("seating: invalid venue")

// A Venue is the static map of a place: stands of rows of seats, and the
// price tiers its seats belong to. It is what fans download once (StaticMap)
// and what stores are prepared from (Layouts); the live status of its seats
// is kept elsewhere, by each seat's index in its stand.
//
// A Venue is built (by ParseVenue, Generate or a literal) and then only
// read: Seat, SeatID, Version and StaticMap compute what they need on first
// use and keep it, so its fields must not change after the first call to
// one of them, and a Venue must not be copied. Once built, a Venue is safe
// for concurrent use.
//
// Its JSON form, written by MarshalVenue and read by ParseVenue, is
//
//	{"name":"Foyer Arena",
//	 "tiers":[{"id":"c1","name":"Category 1","price_cents":15000},…],
//	 "stands":[{"id":"N1","name":"North 1","rows":[
//	   {"id":"1","seats":[{"id":"N1-1-1","i":0,"x":-43.4,"y":44.28,"t":0},…]},…]},…]}
//
// A stadium has 100,000 seats, so a seat's fields have one-letter names:
// "i" is the seat's index in its stand, "x" and "y" its position on the plan
// in metres, "t" the index of its price tier in "tiers", and "b", present
// only when true, marks a seat blocked from sale.
type Venue struct {
	// Name is what the venue is called, for people: 1 to 200 bytes of UTF-8.
	Name string `json:"name"`
	// Tiers are the price tiers, 1 to MaxTiers; seats name them by index.
	Tiers []Tier `json:"tiers"`
	// Stands are the stands, 1 to MaxStands.
	Stands []Stand `json:"stands"`

	cache venueCache
}

// A Tier is a price category of a venue.
type Tier struct {
	// ID names the tier: 1 to 32 of [A-Za-z0-9_-], unique in the venue.
	ID string `json:"id"`
	// Name is the tier's name for people; it may be empty.
	Name string `json:"name,omitempty"`
	// PriceCents is the price of one seat in cents of the sale's currency.
	PriceCents int64 `json:"price_cents"`
}

// A Stand is one part of a venue whose seats share one serialisation point
// of the seat state: a seat is known within its stand by its index.
type Stand struct {
	// ID names the stand: 1 to 32 of [A-Za-z0-9_-], unique in the venue.
	ID string `json:"id"`
	// Name is the stand's name for people; it may be empty.
	Name string `json:"name,omitempty"`
	// Rows are the stand's rows in static order, front to back.
	Rows []Row `json:"rows"`
}

// A Row is a row of seats; its seats are adjacent in static order, which is
// what best-available relies on.
type Row struct {
	// ID names the row: 1 to 32 of [A-Za-z0-9_-], unique in its stand.
	ID string `json:"id"`
	// Seats are the row's seats in order along the row, at least one.
	Seats []Seat `json:"seats"`
}

// A Seat is one seat of a venue.
type Seat struct {
	// ID names the seat: 1 to 64 of [A-Za-z0-9_-], unique in the venue.
	// Generated venues use stand-row-number, as in "N1-12-7".
	ID string `json:"id"`
	// Index is the seat's position in its stand's static order (rows in
	// order, the seats of each row in order), from 0. It is stored so that
	// clients reading a seat's status need no counting, and checked.
	Index int `json:"i"`
	// X and Y are the seat's position on the plan, in metres.
	X float32 `json:"x"`
	Y float32 `json:"y"`
	// Tier is the index of the seat's price tier in Venue.Tiers.
	Tier int `json:"t"`
	// Blocked marks a seat never for sale: a camera position, a kill.
	Blocked bool `json:"b,omitempty"`
}

// SeatCount returns the number of seats of the stand.
func (s *Stand) SeatCount() int {
	n := 0
	for i := range s.Rows {
		n += len(s.Rows[i].Seats)
	}
	return n
}

// SeatCount returns the number of seats of the venue.
func (v *Venue) SeatCount() int {
	n := 0
	for i := range v.Stands {
		n += v.Stands[i].SeatCount()
	}
	return n
}

// venueCache holds what a Venue derives from its fields on first use.
type venueCache struct {
	// indexOnce guards the fields below it, which are written once.
	indexOnce sync.Once
	seats     map[string]venueSeatRef // seat id → where it is
	stands    map[string]int          // stand id → position in Venue.Stands
	ids       [][]string              // by stand position, seat ids by index

	// jsonOnce guards json and version, written once.
	jsonOnce sync.Once
	json     []byte
	version  string

	// gzipOnce guards gzip, written once.
	gzipOnce sync.Once
	gzip     []byte
}

// venueSeatRef locates a seat: its stand's position and its index there.
type venueSeatRef struct {
	stand int32
	index int32
}

// Validate checks the venue: ids well formed and unique, every seat's index
// equal to its position in its stand's static order, tiers in range, finite
// coordinates, and the limits (MaxStands, MaxStandSeats, MaxVenueSeats,
// MaxTiers). Its errors wrap ErrInvalidVenue and name the element by its
// path, as in "stands[3].rows[2].seats[5]".
func (v *Venue) Validate() error {
	if v.Name == "" {
		return venueErr("name is empty")
	}
	if len(v.Name) > maxVenueNameLen || !utf8.ValidString(v.Name) {
		return venueErr("name must be at most %d bytes of UTF-8", maxVenueNameLen)
	}
	if len(v.Tiers) == 0 || len(v.Tiers) > MaxTiers {
		return venueErr("tiers: got %d, want 1 to %d", len(v.Tiers), MaxTiers)
	}
	tierIDs := make(map[string]bool, len(v.Tiers))
	for i, t := range v.Tiers {
		if err := venueCheckID(t.ID, maxTierIDLen); err != nil {
			return venueErr("tiers[%d].id %q: %v", i, t.ID, err)
		}
		if tierIDs[t.ID] {
			return venueErr("tiers[%d].id %q: duplicate", i, t.ID)
		}
		tierIDs[t.ID] = true
		if len(t.Name) > maxVenueNameLen || !utf8.ValidString(t.Name) {
			return venueErr("tiers[%d].name must be at most %d bytes of UTF-8", i, maxVenueNameLen)
		}
		if t.PriceCents < 0 {
			return venueErr("tiers[%d].price_cents is negative: %d", i, t.PriceCents)
		}
	}
	if len(v.Stands) == 0 || len(v.Stands) > MaxStands {
		return venueErr("stands: got %d, want 1 to %d", len(v.Stands), MaxStands)
	}
	standIDs := make(map[string]bool, len(v.Stands))
	seatIDs := make(map[string]bool)
	total := 0
	for si := range v.Stands {
		st := &v.Stands[si]
		if err := venueCheckID(st.ID, maxStandIDLen); err != nil {
			return venueErr("stands[%d].id %q: %v", si, st.ID, err)
		}
		if standIDs[st.ID] {
			return venueErr("stands[%d].id %q: duplicate", si, st.ID)
		}
		standIDs[st.ID] = true
		if len(st.Name) > maxVenueNameLen || !utf8.ValidString(st.Name) {
			return venueErr("stands[%d].name must be at most %d bytes of UTF-8", si, maxVenueNameLen)
		}
		if len(st.Rows) == 0 {
			return venueErr("stands[%d] (%s) has no rows", si, st.ID)
		}
		n := st.SeatCount()
		if n > MaxStandSeats {
			return venueErr("stands[%d] (%s) has %d seats, more than %d", si, st.ID, n, MaxStandSeats)
		}
		if total += n; total > MaxVenueSeats {
			return venueErr("more than %d seats", MaxVenueSeats)
		}
		rowIDs := make(map[string]bool, len(st.Rows))
		index := 0
		for ri := range st.Rows {
			r := &st.Rows[ri]
			if err := venueCheckID(r.ID, maxRowIDLen); err != nil {
				return venueErr("stands[%d].rows[%d].id %q: %v", si, ri, r.ID, err)
			}
			if rowIDs[r.ID] {
				return venueErr("stands[%d].rows[%d].id %q: duplicate in stand %s", si, ri, r.ID, st.ID)
			}
			rowIDs[r.ID] = true
			if len(r.Seats) == 0 {
				return venueErr("stands[%d].rows[%d] (%s row %s) has no seats", si, ri, st.ID, r.ID)
			}
			for k := range r.Seats {
				s := &r.Seats[k]
				if err := venueCheckID(s.ID, maxSeatIDLen); err != nil {
					return venueErr("stands[%d].rows[%d].seats[%d].id %q: %v", si, ri, k, s.ID, err)
				}
				if seatIDs[s.ID] {
					return venueErr("stands[%d].rows[%d].seats[%d].id %q: duplicate", si, ri, k, s.ID)
				}
				seatIDs[s.ID] = true
				if s.Index != index {
					return venueErr("stands[%d].rows[%d].seats[%d] (%s): index is %d, want %d, its position in the stand", si, ri, k, s.ID, s.Index, index)
				}
				if s.Tier < 0 || s.Tier >= len(v.Tiers) {
					return venueErr("stands[%d].rows[%d].seats[%d] (%s): tier %d out of range [0, %d)", si, ri, k, s.ID, s.Tier, len(v.Tiers))
				}
				if !venueFinite(s.X) || !venueFinite(s.Y) {
					return venueErr("stands[%d].rows[%d].seats[%d] (%s): coordinates are not finite", si, ri, k, s.ID)
				}
				index++
			}
		}
	}
	return nil
}

func venueErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidVenue}, args...)...)
}

// venueCheckID checks an id: 1 to max bytes of [A-Za-z0-9_-].
func venueCheckID(id string, max int) error {
	if id == "" {
		return errors.New("empty")
	}
	if len(id) > max {
		return fmt.Errorf("longer than %d bytes", max)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return fmt.Errorf("byte %d is %q; ids use only A-Z, a-z, 0-9, _ and -", i, c)
		}
	}
	return nil
}

func venueFinite(f float32) bool {
	return !math.IsNaN(float64(f)) && !math.IsInf(float64(f), 0)
}

// Layouts returns what stores need to know of each stand, in the order of
// v.Stands: the tier of each seat in static order, the blocked seats and
// where each row starts. The venue must be valid; each call returns new
// slices the caller may keep.
func (v *Venue) Layouts() []StandLayout {
	out := make([]StandLayout, len(v.Stands))
	for si := range v.Stands {
		st := &v.Stands[si]
		n := st.SeatCount()
		l := StandLayout{
			ID:        st.ID,
			Tiers:     make([]uint8, 0, n),
			TierCount: len(v.Tiers),
			Rows:      make([]int, 0, len(st.Rows)),
		}
		for ri := range st.Rows {
			l.Rows = append(l.Rows, len(l.Tiers))
			for _, s := range st.Rows[ri].Seats {
				if s.Blocked {
					l.Blocked = append(l.Blocked, len(l.Tiers))
				}
				l.Tiers = append(l.Tiers, uint8(s.Tier))
			}
		}
		out[si] = l
	}
	return out
}

// Seat finds a seat by its id and returns its stand's id and its index in
// that stand. The index of the venue's seats is built on the first call.
func (v *Venue) Seat(id string) (stand string, index int, ok bool) {
	v.buildIndex()
	ref, ok := v.cache.seats[id]
	if !ok {
		return "", 0, false
	}
	return v.Stands[ref.stand].ID, int(ref.index), true
}

// SeatID returns the id of the seat at index in stand, the reverse of Seat,
// to name seats to people (the seats taken by others, say).
func (v *Venue) SeatID(stand string, index int) (id string, ok bool) {
	v.buildIndex()
	si, ok := v.cache.stands[stand]
	if !ok || index < 0 || index >= len(v.cache.ids[si]) {
		return "", false
	}
	return v.cache.ids[si][index], true
}

func (v *Venue) buildIndex() {
	v.cache.indexOnce.Do(func() {
		c := &v.cache
		c.seats = make(map[string]venueSeatRef, v.SeatCount())
		c.stands = make(map[string]int, len(v.Stands))
		c.ids = make([][]string, len(v.Stands))
		for si := range v.Stands {
			st := &v.Stands[si]
			if _, dup := c.stands[st.ID]; !dup {
				c.stands[st.ID] = si
			}
			ids := make([]string, 0, st.SeatCount())
			for ri := range st.Rows {
				for _, s := range st.Rows[ri].Seats {
					if _, dup := c.seats[s.ID]; !dup {
						c.seats[s.ID] = venueSeatRef{stand: int32(si), index: int32(len(ids))}
					}
					ids = append(ids, s.ID)
				}
			}
			c.ids[si] = ids
		}
	})
}

// Version returns the version of the venue's content: the first 16 hex
// digits of the SHA-256 of its JSON form (as MarshalVenue writes it), so
// two venues with the same content have the same version whatever file
// they came from. It is computed on the first call. A venue that cannot be
// written as JSON (a coordinate not finite) has the version "".
func (v *Venue) Version() string {
	v.buildJSON()
	return v.cache.version
}

func (v *Venue) buildJSON() {
	v.cache.jsonOnce.Do(func() {
		b, err := json.Marshal(v)
		if err != nil {
			return
		}
		sum := sha256.Sum256(b)
		v.cache.json = b
		v.cache.version = hex.EncodeToString(sum[:8])
	})
}

// StaticMap returns the venue as it is served over HTTP: its JSON form, the
// same gzipped, and its strong ETag, the quoted Version. They are computed
// on the first call (for 100,000 seats, about 0.4 s: 5.4 MB of JSON, 1.06 MB
// gzipped) and kept, as the venue never changes. The slices are shared by
// every caller and must not be modified. A venue that cannot be written as
// JSON returns nil slices and an empty ETag.
func (v *Venue) StaticMap() (json, gzipped []byte, etag string) {
	v.buildJSON()
	if v.cache.json == nil {
		return nil, nil, ""
	}
	v.cache.gzipOnce.Do(func() {
		var buf bytes.Buffer
		buf.Grow(len(v.cache.json) / 4)
		// The default level: the best one makes the map 2 % smaller in
		// 2.5 times the time. A valid level cannot fail, nor can writing
		// to a bytes.Buffer.
		zw, _ := gzip.NewWriterLevel(&buf, gzip.DefaultCompression)
		zw.Write(v.cache.json)
		zw.Close()
		v.cache.gzip = buf.Bytes()
	})
	return v.cache.json, v.cache.gzip, `"` + v.cache.version + `"`
}

// MarshalVenue validates v and returns its JSON form (compact, no final
// newline). The result is the caller's to keep.
func MarshalVenue(v *Venue) ([]byte, error) {
	if err := v.Validate(); err != nil {
		return nil, err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("seating: venue: %w", err)
	}
	return b, nil
}

// ParseVenue reads a venue from its JSON form and validates it. Unknown
// fields and trailing data are errors; a syntax error names its line.
func ParseVenue(b []byte) (*Venue, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	v := new(Venue)
	if err := dec.Decode(v); err != nil {
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &syn):
			return nil, fmt.Errorf("seating: venue: line %d: %w", venueLine(b, syn.Offset), err)
		case errors.As(err, &typ):
			return nil, fmt.Errorf("seating: venue: line %d: %w", venueLine(b, typ.Offset), err)
		case errors.Is(err, io.EOF):
			return nil, errors.New("seating: venue: empty input")
		}
		return nil, fmt.Errorf("seating: venue: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("seating: venue: line %d: data after the venue", venueLine(b, dec.InputOffset()))
	}
	if err := v.Validate(); err != nil {
		return nil, err
	}
	return v, nil
}

// venueLine returns the 1-based line of byte offset off in b.
func venueLine(b []byte, off int64) int {
	if off > int64(len(b)) {
		off = int64(len(b))
	}
	if off < 0 {
		off = 0
	}
	return bytes.Count(b[:off], []byte{'\n'}) + 1
}

// GenerateConfig says what venue Generate builds. The zero value of every
// field but Seats means its documented default.
type GenerateConfig struct {
	// Name is the venue's name; "Foyer Arena" when empty.
	Name string
	// Seats is the number of seats in all, 1 to MaxVenueSeats. Required.
	Seats int
	// Stands is the number of stands, 1 to MaxStands and at most Seats;
	// when 0, one stand for every 2,500 seats, rounded up. Seats are
	// shared out evenly, and no stand may have more than MaxStandSeats.
	Stands int
	// Tiers is the number of price tiers, 1 to MaxTiers; 3 when 0.
	Tiers int
	// Seed picks the blocked seats. The same config always gives the same
	// venue, byte for byte.
	Seed int64
	// BlockedPerMille is the share of each stand's seats blocked from sale,
	// in thousandths, up to 1000: 0 means 5 (0.5 %), a negative value none.
	BlockedPerMille int
}

// Defaults of GenerateConfig.
const (
	defaultVenueName           = "Foyer Arena"
	defaultVenueSeatsPerStand  = 2500
	defaultVenueTiers          = 3
	defaultVenueBlockedPerMill = 5
)

// Validate checks the config, zero fields standing for their defaults.
func (c GenerateConfig) Validate() error {
	if len(c.Name) > maxVenueNameLen || !utf8.ValidString(c.Name) {
		return fmt.Errorf("seating: generate: name must be at most %d bytes of UTF-8", maxVenueNameLen)
	}
	if c.Seats < 1 || c.Seats > MaxVenueSeats {
		return fmt.Errorf("seating: generate: seats must be between 1 and %d, got %d", MaxVenueSeats, c.Seats)
	}
	if c.Stands < 0 || c.Stands > MaxStands {
		return fmt.Errorf("seating: generate: stands must be between 1 and %d (0 for one per %d seats), got %d", MaxStands, defaultVenueSeatsPerStand, c.Stands)
	}
	if c.Stands > c.Seats {
		return fmt.Errorf("seating: generate: %d stands for %d seats: every stand needs a seat", c.Stands, c.Seats)
	}
	if c.Stands > 0 && (c.Seats+c.Stands-1)/c.Stands > MaxStandSeats {
		return fmt.Errorf("seating: generate: %d seats in %d stands is more than %d seats a stand", c.Seats, c.Stands, MaxStandSeats)
	}
	if c.Tiers < 0 || c.Tiers > MaxTiers {
		return fmt.Errorf("seating: generate: tiers must be between 1 and %d (0 for %d), got %d", MaxTiers, defaultVenueTiers, c.Tiers)
	}
	if c.BlockedPerMille > 1000 {
		return fmt.Errorf("seating: generate: blocked per mille must be at most 1000, got %d", c.BlockedPerMille)
	}
	return nil
}

// withDefaults returns c with its zero fields set to their defaults.
func (c GenerateConfig) withDefaults() GenerateConfig {
	if c.Name == "" {
		c.Name = defaultVenueName
	}
	if c.Stands == 0 {
		c.Stands = min((c.Seats+defaultVenueSeatsPerStand-1)/defaultVenueSeatsPerStand, MaxStands)
	}
	if c.Tiers == 0 {
		c.Tiers = defaultVenueTiers
	}
	switch {
	case c.BlockedPerMille == 0:
		c.BlockedPerMille = defaultVenueBlockedPerMill
	case c.BlockedPerMille < 0:
		c.BlockedPerMille = 0
	}
	return c
}

// The geometry of generated venues, in metres. The plan's origin is the
// centre of the pitch, x points east and y north. Stands are sectors of a
// ring around the pitch, clockwise from the north-west corner; each row is
// an arc further out than the one before, and seats are numbered clockwise
// along it.
const (
	venueFrontRadius = 62.0 // the front row clears a 105 × 68 m pitch
	venueRowDepth    = 0.85
	venueSeatWidth   = 0.5
	venueAisleShare  = 0.06 // of each stand's sector, left for the aisles between stands
)

// Generate builds a venue shaped like a stadium bowl: cfg.Stands stands
// around a pitch, each an arc sector whose rows lie further out one after
// the other, with cfg.Seats seats shared evenly between the stands. Tiers
// follow the distance from the pitch: the front rows of every stand are in
// tier 0, the dearest, the back rows in the last, the cheapest. Small groups
// of seats, chosen by cfg.Seed, are blocked from sale. The same config
// always gives the same venue.
func Generate(cfg GenerateConfig) (*Venue, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	v := &Venue{Name: cfg.Name, Tiers: venueTiers(cfg.Tiers), Stands: make([]Stand, cfg.Stands)}

	sector := 2 * math.Pi / float64(cfg.Stands)
	sides := [4]struct{ id, name string }{{"N", "North"}, {"E", "East"}, {"S", "South"}, {"W", "West"}}
	var perSide [4]int
	var ids []byte // the seat ids of one stand, end to end
	for k := range v.Stands {
		n := cfg.Seats / cfg.Stands
		if k < cfg.Seats%cfg.Stands {
			n++
		}
		side := 4 * (2*k + 1) / (2 * cfg.Stands) // of the stand's centre
		perSide[side]++
		standID := sides[side].id + strconv.Itoa(perSide[side])
		st := &v.Stands[k]
		st.ID = standID
		st.Name = sides[side].name + " " + strconv.Itoa(perSide[side])

		// Fill rows from the front until the stand has its seats.
		usable := sector * (1 - venueAisleShare)
		var rowLens []int
		for left := n; left > 0; {
			radius := venueFrontRadius + float64(len(rowLens))*venueRowDepth
			m := min(max(int(usable*radius/venueSeatWidth), 1), left)
			rowLens = append(rowLens, m)
			left -= m
		}

		// Seat ids live in one string the seats slice into: one allocation
		// for the stand instead of one a seat.
		ids = ids[:0]
		for r, m := range rowLens {
			for j := range m {
				ids = append(ids, standID...)
				ids = append(ids, '-')
				ids = strconv.AppendInt(ids, int64(r+1), 10)
				ids = append(ids, '-')
				ids = strconv.AppendInt(ids, int64(j+1), 10)
			}
		}
		all := string(ids)

		seats := make([]Seat, n)
		st.Rows = make([]Row, len(rowLens))
		centre := -math.Pi/4 + sector*(float64(k)+0.5) // clockwise from north
		index, off := 0, 0
		for r, m := range rowLens {
			radius := venueFrontRadius + float64(r)*venueRowDepth
			step := venueSeatWidth / radius
			first := centre - float64(m-1)/2*step
			tier := r * cfg.Tiers / len(rowLens)
			for j := range m {
				end := off + len(standID) + 2 + venueDigits(r+1) + venueDigits(j+1)
				a := first + float64(j)*step
				seats[index] = Seat{
					ID:    all[off:end],
					Index: index,
					X:     venueRound(radius * math.Sin(a)),
					Y:     venueRound(radius * math.Cos(a)),
					Tier:  tier,
				}
				off = end
				index++
			}
			st.Rows[r] = Row{ID: strconv.Itoa(r + 1), Seats: seats[index-m : index : index]}
		}
		venueBlock(seats, rowLens, (n*cfg.BlockedPerMille+500)/1000, newVenueRand(uint64(cfg.Seed)^uint64(k+1)*0x9e3779b97f4a7c15))
	}
	return v, nil
}

// venueTiers returns n tiers, "Category 1" the dearest.
func venueTiers(n int) []Tier {
	const top, bottom = 15000, 3000 // cents
	tiers := make([]Tier, n)
	for i := range tiers {
		price := int64(6000)
		if n > 1 {
			price = top - int64(i)*(top-bottom)/int64(n-1)
			price = (price + 50) / 100 * 100
		}
		tiers[i] = Tier{ID: "c" + strconv.Itoa(i+1), Name: "Category " + strconv.Itoa(i+1), PriceCents: price}
	}
	return tiers
}

// venueBlock blocks count seats of a stand, in groups of one to four seats
// of one row (camera positions, kills), placed by rnd.
func venueBlock(seats []Seat, rowLens []int, count int, rnd *venueRand) {
	if count <= 0 {
		return
	}
	rowOf := make([]int32, 0, len(seats)) // row end, by seat
	end := 0
	for _, m := range rowLens {
		end += m
		for range m {
			rowOf = append(rowOf, int32(end))
		}
	}
	blocked := 0
	for try := 0; blocked < count && try < 4*count+16; try++ {
		i := rnd.intn(len(seats))
		group := min(1+rnd.intn(4), int(rowOf[i])-i, count-blocked)
		free := true
		for _, s := range seats[i : i+group] {
			free = free && !s.Blocked
		}
		if !free {
			continue
		}
		for j := i; j < i+group; j++ {
			seats[j].Blocked = true
		}
		blocked += group
	}
	// Nearly every seat blocked: finish in order from a random seat.
	for i, start := 0, rnd.intn(len(seats)); blocked < count; i++ {
		if s := &seats[(start+i)%len(seats)]; !s.Blocked {
			s.Blocked = true
			blocked++
		}
	}
}

// venueRand is splitmix64: tiny, and the same sequence on every Go version
// and platform, so a seed gives the same venue forever.
type venueRand uint64

func newVenueRand(seed uint64) *venueRand { r := venueRand(seed); return &r }

func (r *venueRand) next() uint64 {
	*r += 0x9e3779b97f4a7c15
	z := uint64(*r)
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// intn returns a number in [0, n), n > 0.
func (r *venueRand) intn(n int) int {
	hi, _ := bits.Mul64(r.next(), uint64(n))
	return int(hi)
}

// venueRound rounds to the centimetre, without a negative zero.
func venueRound(f float64) float32 {
	r := math.Round(f*100) / 100
	if r == 0 {
		return 0
	}
	return float32(r)
}

// venueDigits returns the number of decimal digits of n ≥ 0.
func venueDigits(n int) int {
	d := 1
	for ; n >= 10; n /= 10 {
		d++
	}
	return d
}

// The demo venue's parameters.
const (
	demoVenueSeats  = 10_000
	demoVenueStands = 8
	demoVenueSeed   = 1
)

// DemoVenue returns the venue of the demo event: 10,000 seats in 8 stands
// and 3 tiers, always the same. Each call builds a new Venue.
func DemoVenue() *Venue {
	v, err := Generate(GenerateConfig{Name: "Foyer Demo Arena", Seats: demoVenueSeats, Stands: demoVenueStands, Seed: demoVenueSeed})
	if err != nil {
		// The parameters are constants that the tests check: this is a
		// broken build, not a runtime condition.
		panic(err)
	}
	return v
}
