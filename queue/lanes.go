package queue

import (
	"errors"
	"strconv"
	"strings"
	"sync"
)

// Lanes split a line's admissions between weighted lanes (accessibility
// 10 %, presale 30 %, general 60 %) while keeping one line, one serving
// counter and one atomic step per change.
//
// Sequence numbers are dealt to lanes in a fixed repeating pattern: the
// weights, divided by their greatest common divisor, sum to the pattern's
// length B, and within each block of B numbers lane i owns w_i positions,
// spread by smooth weighted round-robin (each step, every lane's credit
// grows by its weight and the lane with the most credit, lowest index on a
// tie, takes the position and loses B). A visitor joining lane i takes the
// next position of lane i above both the lane's last number and the
// serving counter. Positions nobody took are skipped by the serving counter
// at no cost: admission counts only the numbers issued, so a quiet lane's
// share goes to the others, and a busy lane never gets more than its share
// while the others have visitors waiting.
//
// A Lanes value is immutable; share it freely.
type Lanes struct {
	// Weights are the lanes' weights divided by their greatest common
	// divisor; lane 0 is the first.
	Weights []int
	// Last is the last number issued in each lane (0 for none).
	Last []uint64

	p *lanePattern
}

// ErrInvalidLanes means lane weights are not 2 to 16 positive integers
// whose sum, divided by their greatest common divisor, is at most 100, or a
// lane index is out of range.
var ErrInvalidLanes = errors.New("queue: invalid lanes: 2 to 16 positive weights whose reduced sum is at most 100")

// maxLanePattern bounds the pattern's length, which each script step
// rebuilds.
const maxLanePattern = 100

// lanePattern is the dealing pattern of a set of reduced weights.
type lanePattern struct {
	b       int     // the pattern's length, the sum of the reduced weights
	lane    []int   // lane of each position of a block
	count   []int   // positions of each lane in a block
	prefix  [][]int // prefix[i][r]: positions of lane i among the first r of a block
	offsets [][]int // offsets[i][k]: the k-th position (0-based) of lane i in a block
}

// ReduceLaneWeights divides weights by their greatest common divisor and
// checks them.
func ReduceLaneWeights(weights []int) ([]int, error) {
	if len(weights) < 2 || len(weights) > 16 {
		return nil, ErrInvalidLanes
	}
	g := 0
	for _, w := range weights {
		if w <= 0 {
			return nil, ErrInvalidLanes
		}
		g = gcd(g, w)
	}
	out := make([]int, len(weights))
	sum := 0
	for i, w := range weights {
		out[i] = w / g
		sum += out[i]
	}
	if sum > maxLanePattern {
		return nil, ErrInvalidLanes
	}
	return out, nil
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// patterns caches the pattern of each weight list: the Redis store builds
// a State's Lanes from the weights it reads.
var patterns sync.Map // string → *lanePattern

func patternOf(weights []int) *lanePattern {
	key := encodeLaneInts(weights)
	if p, ok := patterns.Load(key); ok {
		return p.(*lanePattern)
	}
	p := newLanePattern(weights)
	patterns.Store(key, p)
	return p
}

// newLanePattern deals one block by smooth weighted round-robin. The Redis
// scripts build the same pattern (lanesPrelude): change one, change both.
func newLanePattern(w []int) *lanePattern {
	p := &lanePattern{count: make([]int, len(w)), prefix: make([][]int, len(w)), offsets: make([][]int, len(w))}
	for _, x := range w {
		p.b += x
	}
	credit := make([]int, len(w))
	for i := range w {
		p.prefix[i] = make([]int, p.b+1)
	}
	for pos := range p.b {
		best := 0
		for i := range w {
			credit[i] += w[i]
			if credit[i] > credit[best] {
				best = i
			}
		}
		credit[best] -= p.b
		p.lane = append(p.lane, best)
		p.offsets[best] = append(p.offsets[best], pos)
		p.count[best]++
		for i := range w {
			p.prefix[i][pos+1] = p.prefix[i][pos]
			if i == best {
				p.prefix[i][pos+1]++
			}
		}
	}
	return p
}

// newLanes returns the Lanes of reduced weights with the last numbers last.
func newLanes(weights []int, last []uint64) *Lanes {
	return &Lanes{Weights: weights, Last: last, p: patternOf(weights)}
}

// cnt is the number of lane i's positions in [1, n].
func (p *lanePattern) cnt(i int, n uint64) uint64 {
	b := uint64(p.b)
	return n/b*uint64(p.count[i]) + uint64(p.prefix[i][n%b])
}

// pos is lane i's k-th position (k ≥ 1).
func (p *lanePattern) pos(i int, k uint64) uint64 {
	c := uint64(p.count[i])
	return (k-1)/c*uint64(p.b) + uint64(p.offsets[i][(k-1)%c]) + 1
}

// Lane returns the lane of sequence number seq.
func (l *Lanes) Lane(seq uint64) int {
	if seq == 0 {
		return 0
	}
	return l.p.lane[(seq-1)%uint64(l.p.b)]
}

// Filled returns how many numbers in (a, b] were issued.
func (l *Lanes) Filled(a, b uint64) uint64 {
	var n uint64
	for i, last := range l.Last {
		if top := min(b, last); top > a {
			n += l.p.cnt(i, top) - l.p.cnt(i, a)
		}
	}
	return n
}

// next returns the number a newcomer to lane i takes when serving is the
// serving counter.
func (l *Lanes) next(i int, serving uint64) uint64 {
	return l.p.pos(i, l.p.cnt(i, max(l.Last[i], serving))+1)
}

// advance returns the smallest s in (serving, tail] such that g numbers in
// (serving, s] were issued (g ≥ 1, at most Filled(serving, tail)).
func (l *Lanes) advance(serving, tail, g uint64) uint64 {
	lo, hi := serving+1, tail
	for lo < hi {
		mid := lo + (hi-lo)/2
		if l.Filled(serving, mid) >= g {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

func encodeLaneInts[T int | uint64](xs []T) string {
	var b strings.Builder
	for i, x := range xs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatUint(uint64(x), 10))
	}
	return b.String()
}

func decodeLaneInts(s string) ([]uint64, error) {
	if s == "" {
		return nil, nil
	}
	parts := strings.Split(s, ",")
	out := make([]uint64, len(parts))
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 10, 64)
		if err != nil {
			return nil, err
		}
		out[i] = n
	}
	return out, nil
}
