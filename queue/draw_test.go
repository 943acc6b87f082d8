package queue_test

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/foyerhq/foyer/queue"
)

var drawTime = time.Date(2026, 11, 21, 18, 0, 0, 0, time.UTC)

// testSeed returns the k-th seed of a fixed sequence, so the statistical
// tests are deterministic.
func testSeed(k uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], k)
	s := sha256.Sum256(append([]byte("foyer draw test seed/"), b[:]...))
	return s[:]
}

func names(n int) []string {
	m := make([]string, n)
	for i := range m {
		m[i] = fmt.Sprintf("fan-%03d", i)
	}
	return m
}

// The known answer was computed by an independent Python implementation
// written from DrawAlgorithm's documentation alone, so a reimplementation in
// any language can check itself against it.
func TestDrawKnownAnswer(t *testing.T) {
	seed := make([]byte, 32)
	for i := range seed {
		seed[i] = byte(i) // 00 01 02 … 1f
	}
	members := []string{"heidi", "alice", "grace", "bob", "frank", "carol", "erin", "dave"}
	const (
		wantSeedHash    = "630dcd2966c4336691125448bbb25b4ff412a49c732db2c8abc1b8581bd710dd"
		wantMembersHash = "2e6eb10cb5cf00ef9d075425bbe4b5f778f79c54f18063fbe461092958bdec31"
		wantEmptyHash   = "6371ee3b7d326fb1a0783318c3bb239eedb3370d9f0fea90aefc5e949eab9565"
	)
	wantOrder := []string{"erin", "alice", "carol", "bob", "grace", "dave", "frank", "heidi"}

	c, err := queue.NewCommitment("final", seed, members, drawTime)
	if err != nil {
		t.Fatal(err)
	}
	if c.Algorithm != "foyer-draw-v1" || c.SeedHash != wantSeedHash || c.MembersHash != wantMembersHash || c.Members != 8 {
		t.Errorf("got commitment %+v, want algorithm foyer-draw-v1, seed hash %s, members hash %s, 8 members",
			c, wantSeedHash, wantMembersHash)
	}
	got, err := queue.Shuffle(seed, members)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, wantOrder) {
		t.Errorf("got order %q, want %q", got, wantOrder)
	}
	empty, err := queue.NewCommitment("final", seed, nil, drawTime)
	if err != nil {
		t.Fatal(err)
	}
	if empty.MembersHash != wantEmptyHash || empty.Members != 0 {
		t.Errorf("got empty snapshot hash %s (%d members), want %s (0)", empty.MembersHash, empty.Members, wantEmptyHash)
	}
}

func TestDrawDeterministic(t *testing.T) {
	members := names(50)
	input := slices.Clone(members)
	slices.Reverse(input)
	keep := slices.Clone(input)

	a, err := queue.Shuffle(testSeed(1), members)
	if err != nil {
		t.Fatal(err)
	}
	b, err := queue.Shuffle(testSeed(1), input)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a, b) {
		t.Errorf("same seed and members in another order: got %q, want %q", b, a)
	}
	if !slices.Equal(input, keep) {
		t.Errorf("Shuffle modified its input: got %q, want %q", input, keep)
	}
	sorted := slices.Clone(a)
	slices.Sort(sorted)
	if !slices.Equal(sorted, members) {
		t.Errorf("got order %q, not a permutation of %q", a, members)
	}
	c, err := queue.Shuffle(testSeed(2), members)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Equal(a, c) {
		t.Errorf("two seeds gave the same order of 50 members %q", a)
	}
}

func TestDrawSmall(t *testing.T) {
	for _, members := range [][]string{nil, {"solo"}} {
		t.Run(fmt.Sprint(len(members)), func(t *testing.T) {
			c, err := queue.NewCommitment("final", testSeed(0), members, drawTime)
			if err != nil {
				t.Fatal(err)
			}
			d, err := queue.NewDraw(c, testSeed(0), members)
			if err != nil {
				t.Fatal(err)
			}
			if len(d.Order) != len(members) || d.Order == nil {
				t.Errorf("got order %#v, want %d members, not nil", d.Order, len(members))
			}
			if err := queue.VerifyDraw(d); err != nil {
				t.Errorf("got %v, want nil", err)
			}
		})
	}
}

// validDraw is a draw of 20 members with seed testSeed(7).
func validDraw(t *testing.T) queue.Draw {
	t.Helper()
	members := names(20)
	c, err := queue.NewCommitment("final", testSeed(7), members, drawTime)
	if err != nil {
		t.Fatal(err)
	}
	d, err := queue.NewDraw(c, testSeed(7), members)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestDrawVerify(t *testing.T) {
	tests := []struct {
		name    string
		tamper  func(d *queue.Draw)
		wantErr error
		wantMsg string
	}{
		{"valid", func(*queue.Draw) {}, nil, ""},
		{"uppercase hex", func(d *queue.Draw) { d.Seed = strings.ToUpper(d.Seed) }, nil, ""},
		{"tampered seed", func(d *queue.Draw) {
			b, _ := hex.DecodeString(d.Seed)
			b[0] ^= 1
			d.Seed = hex.EncodeToString(b)
		}, queue.ErrSeedMismatch, "SHA-256 of the seed is"},
		{"tampered seed hash", func(d *queue.Draw) { d.SeedHash = strings.Repeat("0", 64) }, queue.ErrSeedMismatch, "the commitment has 0000"},
		{"member added", func(d *queue.Draw) { d.Order = append(d.Order, "intruder") }, queue.ErrMembersMismatch, "the order has 21 members, the commitment 20"},
		{"member added and count raised", func(d *queue.Draw) {
			d.Order = append([]string{"intruder"}, d.Order...)
			d.Members++
		}, queue.ErrMembersMismatch, "the members of the order hash to"},
		{"member removed", func(d *queue.Draw) { d.Order = d.Order[1:] }, queue.ErrMembersMismatch, "the order has 19 members, the commitment 20"},
		{"member removed and count lowered", func(d *queue.Draw) {
			d.Order = d.Order[:19]
			d.Members--
		}, queue.ErrMembersMismatch, "the members of the order hash to"},
		{"member replaced", func(d *queue.Draw) { d.Order[5] = "intruder" }, queue.ErrMembersMismatch, "the members of the order hash to"},
		{"two positions swapped", func(d *queue.Draw) { d.Order[3], d.Order[11] = d.Order[11], d.Order[3] }, queue.ErrOrderMismatch, "position 3 (0-based)"},
		{"order reversed", func(d *queue.Draw) { slices.Reverse(d.Order) }, queue.ErrOrderMismatch, "position 0 (0-based)"},
		{"wrong count", func(d *queue.Draw) { d.Members = 21 }, queue.ErrMembersMismatch, "the order has 20 members, the commitment 21"},
		{"duplicate member", func(d *queue.Draw) { d.Order[1] = d.Order[0] }, queue.ErrDrawMalformed, "appears twice"},
		{"invalid member", func(d *queue.Draw) { d.Order[2] = "no spaces" }, queue.ErrDrawMalformed, `member 2 "no spaces"`},
		{"unknown algorithm", func(d *queue.Draw) { d.Algorithm = "foyer-draw-v2" }, queue.ErrDrawMalformed, `unknown algorithm "foyer-draw-v2"`},
		{"invalid event", func(d *queue.Draw) { d.Event = "Final Night" }, queue.ErrDrawMalformed, "invalid event name"},
		{"seed not hex", func(d *queue.Draw) { d.Seed = "zz" + d.Seed[2:] }, queue.ErrDrawMalformed, "seed is not 64 hex digits"},
		{"seed too short", func(d *queue.Draw) { d.Seed = d.Seed[:62] }, queue.ErrDrawMalformed, "seed is not 64 hex digits"},
		{"members hash too short", func(d *queue.Draw) { d.MembersHash = d.MembersHash[:10] }, queue.ErrDrawMalformed, "members_hash is not 64 hex digits"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := validDraw(t)
			tt.tamper(&d)
			err := queue.VerifyDraw(d)
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("got %v, want %v", err, tt.wantErr)
			}
			if err == nil {
				return
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "queue: draw: ") || !strings.Contains(msg, tt.wantMsg) {
				t.Errorf("got message %q, want one starting with %q and containing %q", msg, "queue: draw: ", tt.wantMsg)
			}
		})
	}
}

func TestDrawInputErrors(t *testing.T) {
	members := names(5)
	c, err := queue.NewCommitment("final", testSeed(1), members, drawTime)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		call    func() error
		wantErr error
		wantMsg string
	}{
		{"commit short seed", func() error {
			_, err := queue.NewCommitment("final", make([]byte, 16), members, drawTime)
			return err
		}, queue.ErrDrawMalformed, "seed is 16 bytes, want 32"},
		{"commit invalid event", func() error {
			_, err := queue.NewCommitment("", testSeed(1), members, drawTime)
			return err
		}, queue.ErrDrawMalformed, "invalid event name"},
		{"commit duplicate member", func() error {
			_, err := queue.NewCommitment("final", testSeed(1), []string{"a", "b", "a"}, drawTime)
			return err
		}, queue.ErrDrawMalformed, `member "a" appears twice`},
		{"commit invalid member", func() error {
			_, err := queue.NewCommitment("final", testSeed(1), []string{"a", strings.Repeat("x", 65)}, drawTime)
			return err
		}, queue.ErrDrawMalformed, "member 1"},
		{"shuffle long seed", func() error {
			_, err := queue.Shuffle(make([]byte, 33), members)
			return err
		}, queue.ErrDrawMalformed, "seed is 33 bytes, want 32"},
		{"draw with another seed", func() error {
			_, err := queue.NewDraw(c, testSeed(2), members)
			return err
		}, queue.ErrSeedMismatch, "SHA-256 of the seed"},
		{"draw with other members", func() error {
			_, err := queue.NewDraw(c, testSeed(1), names(6))
			return err
		}, queue.ErrMembersMismatch, "the order has 6 members, the commitment 5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("got %v, want %v", err, tt.wantErr)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "queue: draw: ") || !strings.Contains(msg, tt.wantMsg) {
				t.Errorf("got message %q, want one starting with %q and containing %q", msg, "queue: draw: ", tt.wantMsg)
			}
		})
	}
}

func TestDrawJSON(t *testing.T) {
	seed := make([]byte, 32)
	c, err := queue.NewCommitment("final", seed, []string{"b", "a"}, drawTime)
	if err != nil {
		t.Fatal(err)
	}
	d, err := queue.NewDraw(c, seed, []string{"a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	order, err := json.Marshal(d.Order)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(`{"commitment":{"algorithm":"foyer-draw-v1","event":"final","seed_hash":%q,`+
		`"members_hash":%q,"members":2,"committed_at":"2026-11-21T18:00:00Z"},"seed":%q,"order":%s}`,
		c.SeedHash, c.MembersHash, strings.Repeat("0", 64), order)
	if string(got) != want {
		t.Errorf("got %s\nwant %s", got, want)
	}
	var back queue.Draw
	if err := json.Unmarshal(got, &back); err != nil {
		t.Fatal(err)
	}
	if err := queue.VerifyDraw(back); err != nil {
		t.Errorf("decoded draw: got %v, want nil", err)
	}
	if !back.CommittedAt.Equal(d.CommittedAt) || !slices.Equal(back.Order, d.Order) || back.Seed != d.Seed {
		t.Errorf("round trip: got %+v, want %+v", back, d)
	}
}

// chiSquare returns Pearson's statistic of counts against a uniform
// expectation.
func chiSquare(counts []int, total int) float64 {
	e := float64(total) / float64(len(counts))
	var x float64
	for _, o := range counts {
		d := float64(o) - e
		x += d * d / e
	}
	return x
}

// TestDrawUniformPermutations draws 5 members 60,000 times with different
// seeds: each of the 5! = 120 orders is expected 500 times. The statistic
// must lie between the 0.001 and 0.999 quantiles of chi-square with 119
// degrees of freedom (76.95 and 172.42): too large is bias, too small a
// sequence that is too regular to be random. The seeds are fixed, so the
// test is deterministic.
func TestDrawUniformPermutations(t *testing.T) {
	const draws = 60000
	members := []string{"a", "b", "c", "d", "e"}
	index := map[string]int{}
	var perm func(prefix []string, rest []string)
	perm = func(prefix, rest []string) {
		if len(rest) == 0 {
			index[strings.Join(prefix, ",")] = len(index)
		}
		for i := range rest {
			r := slices.Concat(rest[:i:i], rest[i+1:])
			perm(append(prefix[:len(prefix):len(prefix)], rest[i]), r)
		}
	}
	perm(nil, members)
	if len(index) != 120 {
		t.Fatalf("got %d permutations, want 120", len(index))
	}
	counts := make([]int, len(index))
	for k := range uint64(draws) {
		order, err := queue.Shuffle(testSeed(k), members)
		if err != nil {
			t.Fatal(err)
		}
		i, ok := index[strings.Join(order, ",")]
		if !ok {
			t.Fatalf("draw %d: got %q, not a permutation of %q", k, order, members)
		}
		counts[i]++
	}
	for i, n := range counts {
		if n == 0 {
			t.Errorf("permutation %d never drawn", i)
		}
	}
	x := chiSquare(counts, draws)
	t.Logf("chi-square over 120 permutations: %.2f (119 degrees of freedom)", x)
	if x < 76.95 || x > 172.42 {
		t.Errorf("got chi-square %.2f, want between 76.95 and 172.42 (0.001 and 0.999 quantiles, 119 degrees of freedom)", x)
	}
}

// TestDrawUniformPositions draws 50 members 20,000 times and counts where
// each member lands: every (member, position) cell is expected 400 times.
// The counts form a 50×50 table whose rows and columns each sum to the
// number of draws; for uniform permutations its Pearson statistic times
// (n−1)/n follows chi-square with (n−1)² = 2401 degrees of freedom (the
// covariance of a random permutation matrix is n/(n−1) times the identity on
// that subspace). It must lie between the 0.001 and 0.999 quantiles, 2192.5
// and 2620.8 (Wilson–Hilferty). Each position is also checked on its own
// against chi-square with 49 degrees of freedom at the 0.99999 quantile
// (103.1), a Bonferroni bound over the 50 positions.
func TestDrawUniformPositions(t *testing.T) {
	const n, draws = 50, 20000
	members := names(n)
	at := map[string]int{}
	for i, m := range members {
		at[m] = i
	}
	cells := make([][]int, n) // cells[position][member]
	for p := range cells {
		cells[p] = make([]int, n)
	}
	for k := range uint64(draws) {
		order, err := queue.Shuffle(testSeed(1_000_000+k), members)
		if err != nil {
			t.Fatal(err)
		}
		for p, m := range order {
			cells[p][at[m]]++
		}
	}
	var total float64
	for p, row := range cells {
		x := chiSquare(row, draws)
		total += x
		if x > 103.1 {
			t.Errorf("position %d: got chi-square %.2f, want at most 103.1 (49 degrees of freedom)", p, x)
		}
	}
	scaled := total * (n - 1) / n
	t.Logf("scaled chi-square over the 50×50 table: %.1f (2401 degrees of freedom)", scaled)
	if scaled < 2192.5 || scaled > 2620.8 {
		t.Errorf("got scaled chi-square %.1f, want between 2192.5 and 2620.8 (2401 degrees of freedom)", scaled)
	}
}

func BenchmarkDrawShuffle100k(b *testing.B) {
	members := make([]string, 100_000)
	for i := range members {
		members[i] = queue.NewVisitorID()
	}
	seed := testSeed(0)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := queue.Shuffle(seed, members); err != nil {
			b.Fatal(err)
		}
	}
}
