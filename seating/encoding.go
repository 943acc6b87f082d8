package seating

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
)

// The packed encoding of a stand's status is two bits a seat in static
// order: seat i is in bits 2i and 2i+1 of the string, counting bits from the
// most significant bit of byte 0, the way Redis numbers them for BITFIELD
// and SETBIT. So seat 0 is the top two bits of byte 0 (mask 0xC0), seat 3
// the bottom two (mask 0x03), seat 4 the top two bits of byte 1, and
// "BITFIELD key GET u2 #i" reads seat i. The two bits are the Status code,
// high bit first: Free 00, Held 01, Sold 10, Blocked 11. Bits after the last
// seat are zero. 50,000 seats take 12,500 bytes.

// PackedSize returns the length of the packed status of n seats: n/4
// rounded up, 0 for n ≤ 0.
func PackedSize(n int) int {
	if n <= 0 {
		return 0
	}
	return n/4 + min(n%4, 1)
}

// Pack returns the packed status of statuses, seat i being statuses[i].
// Only the low two bits of each status are used.
func Pack(statuses []Status) []byte {
	b := make([]byte, PackedSize(len(statuses)))
	i := 0
	for ; i+4 <= len(statuses); i += 4 {
		b[i>>2] = byte(statuses[i]&3)<<6 | byte(statuses[i+1]&3)<<4 | byte(statuses[i+2]&3)<<2 | byte(statuses[i+3]&3)
	}
	for ; i < len(statuses); i++ {
		b[i>>2] |= byte(statuses[i]&3) << (6 - 2*(i&3))
	}
	return b
}

// Unpack returns the statuses of the first n seats of the packed status b.
// Bytes after those n seats need are ignored. It returns nil when b is too
// short for n seats or n is negative.
func Unpack(b []byte, n int) []Status {
	if n < 0 || len(b) < PackedSize(n) {
		return nil
	}
	out := make([]Status, n)
	i := 0
	for ; i+4 <= n; i += 4 {
		c := b[i>>2]
		out[i], out[i+1], out[i+2], out[i+3] = Status(c>>6), Status(c>>4&3), Status(c>>2&3), Status(c&3)
	}
	for ; i < n; i++ {
		out[i] = StatusAt(b, i)
	}
	return out
}

// StatusAt returns seat i's status in the packed status b. Like a slice
// index, it panics when seat i is not in b.
func StatusAt(b []byte, i int) Status {
	return Status(b[i>>2] >> (6 - 2*(i&3)) & 3)
}

// SetStatus sets seat i's status in the packed status b, as Redis
// "BITFIELD key SET u2 #i s" does. Only the low two bits of s are used.
// Like a slice index, it panics when seat i is not in b.
func SetStatus(b []byte, i int, s Status) {
	shift := 6 - 2*(i&3)
	b[i>>2] = b[i>>2]&^(3<<shift) | byte(s&3)<<shift
}

// A delta tells a client that holds a stand's status at version from what
// changed up to version to. Its form is JSON:
//
//	{"from":41,"to":44,"changes":[[17,1],[18,1],[902,0]]}
//
// where each change is [seat index, status code] (the two-bit code: 0 free,
// 1 held, 2 sold, 3 blocked). A seat appears at most once, with its status
// at version to, and the seats are in ascending order; "changes" is [] when
// nothing changed, and then from may equal to. JSON keeps the status API
// readable with curl and needs no decoder in the browser; a delta covers a
// bounded change log, so a binary form would save little after gzip.

// AppendDelta appends to dst the delta from version from to version to made
// of changes, as described above. When a seat changed more than once, the
// last of its changes in the slice wins; changes is not modified, and the
// Change versions are not written. Seats must not be negative; only the
// low two bits of a status are used.
func AppendDelta(dst []byte, from, to uint64, changes []Change) []byte {
	cs := changes
	if !deltaCanonical(cs) {
		cs = slices.Clone(changes)
		slices.SortStableFunc(cs, func(a, b Change) int { return cmp.Compare(a.Seat, b.Seat) })
		w := 0
		for _, c := range cs {
			if w > 0 && cs[w-1].Seat == c.Seat {
				cs[w-1] = c // a later change of the same seat wins
				continue
			}
			cs[w] = c
			w++
		}
		cs = cs[:w]
	}
	dst = append(dst, `{"from":`...)
	dst = strconv.AppendUint(dst, from, 10)
	dst = append(dst, `,"to":`...)
	dst = strconv.AppendUint(dst, to, 10)
	dst = append(dst, `,"changes":[`...)
	for i, c := range cs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '[')
		dst = strconv.AppendInt(dst, int64(c.Seat), 10)
		dst = append(dst, ',', '0'+byte(c.Status&3), ']')
	}
	return append(dst, "]}"...)
}

// deltaCanonical reports whether changes name strictly ascending seats, so
// they can be written as they are.
func deltaCanonical(changes []Change) bool {
	for i := 1; i < len(changes); i++ {
		if changes[i].Seat <= changes[i-1].Seat {
			return false
		}
	}
	return true
}

// errDelta is wrapped by every error of ParseDelta.
var errDelta = errors.New("seating: invalid delta")

// ParseDelta reads a delta written by AppendDelta. Each change it returns
// carries version to. Fields other than from, to and changes are ignored,
// so the form can grow; a delta that is not canonical (seats out of order
// or repeated, a status above 3, a seat index of MaxStandSeats or more,
// changes when from equals to) is an error.
func ParseDelta(b []byte) (from, to uint64, changes []Change, err error) {
	var d struct {
		From    *uint64    `json:"from"`
		To      *uint64    `json:"to"`
		Changes *[][]int64 `json:"changes"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&d); err != nil {
		return 0, 0, nil, fmt.Errorf("%w: %v", errDelta, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return 0, 0, nil, fmt.Errorf("%w: data after the delta", errDelta)
	}
	if d.From == nil || d.To == nil || d.Changes == nil {
		return 0, 0, nil, fmt.Errorf("%w: from, to and changes are required", errDelta)
	}
	from, to = *d.From, *d.To
	if from > to {
		return 0, 0, nil, fmt.Errorf("%w: from %d is after to %d", errDelta, from, to)
	}
	if from == to && len(*d.Changes) > 0 {
		return 0, 0, nil, fmt.Errorf("%w: changes between equal versions", errDelta)
	}
	changes = make([]Change, 0, len(*d.Changes))
	for i, c := range *d.Changes {
		if len(c) != 2 {
			return 0, 0, nil, fmt.Errorf("%w: changes[%d] has %d numbers, want [seat, status]", errDelta, i, len(c))
		}
		seat, st := c[0], c[1]
		if seat < 0 || seat >= MaxStandSeats {
			return 0, 0, nil, fmt.Errorf("%w: changes[%d]: seat %d out of range", errDelta, i, seat)
		}
		if st < 0 || st > int64(Blocked) {
			return 0, 0, nil, fmt.Errorf("%w: changes[%d]: status %d out of range", errDelta, i, st)
		}
		if i > 0 && int(seat) <= changes[i-1].Seat {
			return 0, 0, nil, fmt.Errorf("%w: changes[%d]: seat %d not after seat %d", errDelta, i, seat, changes[i-1].Seat)
		}
		changes = append(changes, Change{Version: to, Seat: int(seat), Status: Status(st)})
	}
	return from, to, changes, nil
}

// EncodeJSONStatuses returns statuses the way a typical JSON API would
// send a seat map: an array of one object a seat,
//
//	[{"seat":0,"status":"free"},{"seat":1,"status":"sold"},…]
//
// It is here to measure the packed encoding against, not to serve.
func EncodeJSONStatuses(statuses []Status) []byte {
	b := make([]byte, 0, 30*len(statuses)+2)
	b = append(b, '[')
	for i, s := range statuses {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"seat":`...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, `,"status":"`...)
		b = append(b, (s & 3).String()...)
		b = append(b, `"}`...)
	}
	return append(b, ']')
}

// EncodeRLE returns statuses run-length encoded: for each run of seats
// with one status, in order, one unsigned varint (encoding/binary's
// Uvarint) holding (run length − 1) << 2 | status code. Runs are as long as
// they can be. Only the low two bits of each status are used. It is here to
// measure the packed encoding against: it wins on a fresh stand (one run)
// and loses on a sold-through one.
func EncodeRLE(statuses []Status) []byte {
	var b []byte
	for i := 0; i < len(statuses); {
		s := statuses[i] & 3
		j := i + 1
		for j < len(statuses) && statuses[j]&3 == s {
			j++
		}
		b = binary.AppendUvarint(b, uint64(j-i-1)<<2|uint64(s))
		i = j
	}
	return b
}

// DecodeRLE decodes the run-length encoding of EncodeRLE, which must hold
// exactly n seats; adjacent runs of one status are accepted.
func DecodeRLE(b []byte, n int) ([]Status, error) {
	if n < 0 {
		return nil, fmt.Errorf("seating: rle: negative seat count %d", n)
	}
	out := make([]Status, 0, n)
	for len(b) > 0 {
		x, k := binary.Uvarint(b)
		if k <= 0 {
			return nil, fmt.Errorf("seating: rle: bad varint at seat %d", len(out))
		}
		b = b[k:]
		run := x>>2 + 1
		if x>>2 >= uint64(n-len(out)) {
			return nil, fmt.Errorf("seating: rle: run of %d seats from seat %d passes the %d seats", run, len(out), n)
		}
		s := Status(x & 3)
		for range run {
			out = append(out, s)
		}
	}
	if len(out) != n {
		return nil, fmt.Errorf("seating: rle: %d seats, want %d", len(out), n)
	}
	return out, nil
}
