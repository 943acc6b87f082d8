package seating_test

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/foyerhq/foyer/seating"
)

func TestGenerateVenue(t *testing.T) {
	cases := []struct {
		name        string
		cfg         seating.GenerateConfig
		wantStands  int
		wantTiers   int
		wantBlocked int
	}{
		{"stadium", seating.GenerateConfig{Seats: 100_000, Stands: 40, Seed: 7}, 40, 3, 40 * 13},
		{"demo size", seating.GenerateConfig{Seats: 10_000, Stands: 8, Tiers: 4}, 8, 4, 8 * 6},
		{"one seat", seating.GenerateConfig{Seats: 1, Stands: 1}, 1, 3, 0},
		{"uneven", seating.GenerateConfig{Seats: 10, Stands: 3, Tiers: 1, BlockedPerMille: 200}, 3, 1, 1 + 1 + 1},
		{"default stands", seating.GenerateConfig{Seats: 5001}, 3, 3, 3 * 8},
		{"no blocked", seating.GenerateConfig{Seats: 3000, Stands: 2, BlockedPerMille: -1}, 2, 3, 0},
		{"all blocked", seating.GenerateConfig{Seats: 300, Stands: 3, BlockedPerMille: 1000}, 3, 3, 300},
		{"many tiers", seating.GenerateConfig{Seats: 2000, Stands: 4, Tiers: seating.MaxTiers}, 4, seating.MaxTiers, 4 * 3},
		{"many stands", seating.GenerateConfig{Seats: 5000, Stands: seating.MaxStands}, seating.MaxStands, 3, 0},
		{"largest stand", seating.GenerateConfig{Seats: seating.MaxStandSeats, Stands: 1}, 1, 3, 500},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, err := seating.Generate(c.cfg)
			if err != nil {
				t.Fatalf("Generate: %v", err)
			}
			if err := v.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if got := v.SeatCount(); got != c.cfg.Seats {
				t.Errorf("seats: got %d, want %d", got, c.cfg.Seats)
			}
			if got := len(v.Stands); got != c.wantStands {
				t.Errorf("stands: got %d, want %d", got, c.wantStands)
			}
			if got := len(v.Tiers); got != c.wantTiers {
				t.Errorf("tiers: got %d, want %d", got, c.wantTiers)
			}
			blocked := 0
			for _, l := range v.Layouts() {
				blocked += len(l.Blocked)
			}
			if blocked != c.wantBlocked {
				t.Errorf("blocked seats: got %d, want %d", blocked, c.wantBlocked)
			}
			// Stands share the seats evenly.
			lo, hi := math.MaxInt, 0
			for i := range v.Stands {
				n := v.Stands[i].SeatCount()
				lo, hi = min(lo, n), max(hi, n)
			}
			if hi-lo > 1 {
				t.Errorf("stand sizes from %d to %d, want within one", lo, hi)
			}
			venueCheckBowl(t, v)
		})
	}
}

// venueCheckBowl checks the shape of a generated venue: every row of a stand
// further from the pitch than the one before, seats of a row a seat apart
// and at the same distance, tiers never dearer further back, prices
// falling with the tier.
func venueCheckBowl(t *testing.T, v *seating.Venue) {
	t.Helper()
	dist := func(s seating.Seat) float64 { return math.Hypot(float64(s.X), float64(s.Y)) }
	for i := 1; i < len(v.Tiers); i++ {
		if v.Tiers[i].PriceCents > v.Tiers[i-1].PriceCents {
			t.Errorf("tier %d costs %d, more than tier %d at %d", i, v.Tiers[i].PriceCents, i-1, v.Tiers[i-1].PriceCents)
		}
	}
	for _, st := range v.Stands {
		prevDist, prevTier := 0.0, 0
		for ri, r := range st.Rows {
			d := dist(r.Seats[0])
			if d < 60 || d <= prevDist {
				t.Fatalf("stand %s row %s: %.2f m from the centre, after %.2f m", st.ID, r.ID, d, prevDist)
			}
			for k, s := range r.Seats {
				if got := dist(s); math.Abs(got-d) > 0.02 {
					t.Fatalf("seat %s: %.2f m from the centre, want %.2f like its row", s.ID, got, d)
				}
				if s.Tier < prevTier {
					t.Fatalf("seat %s of row %d in tier %d, dearer than a row in front (tier %d)", s.ID, ri, s.Tier, prevTier)
				}
				prevTier = s.Tier
				if k > 0 {
					p := r.Seats[k-1]
					if gap := math.Hypot(float64(s.X-p.X), float64(s.Y-p.Y)); gap < 0.47 || gap > 0.53 {
						t.Fatalf("seats %s and %s are %.3f m apart, want about 0.5", p.ID, s.ID, gap)
					}
				}
				if want := fmt.Sprintf("%s-%s-%d", st.ID, r.ID, k+1); s.ID != want {
					t.Fatalf("seat id: got %q, want %q", s.ID, want)
				}
			}
			prevDist = d
		}
		if front, back := st.Rows[0].Seats[0].Tier, st.Rows[len(st.Rows)-1].Seats[0].Tier; len(st.Rows) >= len(v.Tiers) && (front != 0 || back != len(v.Tiers)-1) {
			t.Errorf("stand %s: front row tier %d, back row tier %d; want 0 and %d", st.ID, front, back, len(v.Tiers)-1)
		}
	}
}

func TestGenerateStandNames(t *testing.T) {
	v, err := seating.Generate(seating.GenerateConfig{Seats: 100_000, Stands: 40})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, st := range v.Stands {
		got = append(got, st.ID)
	}
	want := []string{"N1", "N10", "E1", "E10", "S1", "S10", "W1", "W10"}
	for i, id := range []string{got[0], got[9], got[10], got[19], got[20], got[29], got[30], got[39]} {
		if id != want[i] {
			t.Errorf("stand ids: got %v, want N1…N10 E1…E10 S1…S10 W1…W10", got)
			break
		}
	}
	// The north stands are north of the pitch.
	for _, st := range v.Stands[:10] {
		if s := st.Rows[0].Seats[0]; s.Y <= 0 {
			t.Errorf("stand %s: first seat at y %.2f, want north of the centre", st.ID, s.Y)
		}
	}
}

func TestGenerateDeterministic(t *testing.T) {
	cfg := seating.GenerateConfig{Seats: 20_000, Stands: 10, Seed: 42}
	a, b := venueGenerate(t, cfg), venueGenerate(t, cfg)
	ja, jb := venueMarshal(t, a), venueMarshal(t, b)
	if !bytes.Equal(ja, jb) {
		t.Fatal("two venues from one config differ")
	}
	if a.Version() != b.Version() {
		t.Errorf("versions: got %s and %s, want equal", a.Version(), b.Version())
	}
	cfg.Seed++
	if c := venueGenerate(t, cfg); c.Version() == a.Version() {
		t.Errorf("another seed gave the same venue (version %s)", c.Version())
	}
}

func TestGenerateConfigValidate(t *testing.T) {
	cases := []struct {
		name string
		cfg  seating.GenerateConfig
		want string
	}{
		{"no seats", seating.GenerateConfig{}, "seats must be between 1"},
		{"negative seats", seating.GenerateConfig{Seats: -4}, "seats must be between 1"},
		{"too many seats", seating.GenerateConfig{Seats: seating.MaxVenueSeats + 1}, "seats must be between 1"},
		{"negative stands", seating.GenerateConfig{Seats: 10, Stands: -1}, "stands must be between 1"},
		{"too many stands", seating.GenerateConfig{Seats: 10_000, Stands: seating.MaxStands + 1}, "stands must be between 1"},
		{"more stands than seats", seating.GenerateConfig{Seats: 3, Stands: 4}, "every stand needs a seat"},
		{"stand too big", seating.GenerateConfig{Seats: 200_001, Stands: 2}, "more than 100000 seats a stand"},
		{"negative tiers", seating.GenerateConfig{Seats: 10, Tiers: -1}, "tiers must be between 1"},
		{"too many tiers", seating.GenerateConfig{Seats: 10, Tiers: seating.MaxTiers + 1}, "tiers must be between 1"},
		{"blocked over 1000", seating.GenerateConfig{Seats: 10, BlockedPerMille: 1001}, "at most 1000"},
		{"long name", seating.GenerateConfig{Seats: 10, Name: strings.Repeat("x", 201)}, "name must be"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := seating.Generate(c.cfg)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "seating: ") {
				t.Errorf("got %v, want an error starting seating: and containing %q", err, c.want)
			}
			if verr := c.cfg.Validate(); verr == nil || err == nil || verr.Error() != err.Error() {
				t.Errorf("Validate: got %v, want the error of Generate", verr)
			}
		})
	}
}

func TestDemoVenue(t *testing.T) {
	v := seating.DemoVenue()
	if err := v.Validate(); err != nil {
		t.Fatal(err)
	}
	if got, want := v.SeatCount(), 10_000; got != want {
		t.Errorf("seats: got %d, want %d", got, want)
	}
	if got, want := len(v.Stands), 8; got != want {
		t.Errorf("stands: got %d, want %d", got, want)
	}
	if got, want := seating.DemoVenue().Version(), v.Version(); got != want {
		t.Errorf("version of a second demo venue: got %s, want %s", got, want)
	}
}

// venueSmall is a hand-made valid venue: stand A of rows 1 (3 seats) and 2
// (2 seats), stand B of one row of 2 seats.
func venueSmall() *seating.Venue {
	return &seating.Venue{
		Name:  "Small Hall",
		Tiers: []seating.Tier{{ID: "front", Name: "Front", PriceCents: 5000}, {ID: "back", PriceCents: 2000}},
		Stands: []seating.Stand{
			{ID: "A", Name: "Stand A", Rows: []seating.Row{
				{ID: "1", Seats: []seating.Seat{
					{ID: "A-1-1", Index: 0, X: -1, Y: 2}, {ID: "A-1-2", Index: 1, X: 0, Y: 2, Blocked: true}, {ID: "A-1-3", Index: 2, X: 1, Y: 2},
				}},
				{ID: "2", Seats: []seating.Seat{
					{ID: "A-2-1", Index: 3, X: -0.5, Y: 3, Tier: 1}, {ID: "A-2-2", Index: 4, X: 0.5, Y: 3, Tier: 1, Blocked: true},
				}},
			}},
			{ID: "B", Rows: []seating.Row{
				{ID: "1", Seats: []seating.Seat{{ID: "B-1-1", Index: 0, X: 5, Y: -2.25, Tier: 1}, {ID: "B-1-2", Index: 1, X: 5.5, Y: -2.25}}},
			}},
		},
	}
}

func TestVenueValidate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(v *seating.Venue)
		want   string // substring of the error; "" for valid
	}{
		{"valid", func(v *seating.Venue) {}, ""},
		{"no name", func(v *seating.Venue) { v.Name = "" }, "name is empty"},
		{"no tiers", func(v *seating.Venue) { v.Tiers = nil }, "tiers: got 0"},
		{"bad tier id", func(v *seating.Venue) { v.Tiers[1].ID = "ba ck" }, `tiers[1].id "ba ck": byte 2`},
		{"duplicate tier", func(v *seating.Venue) { v.Tiers[1].ID = "front" }, `tiers[1].id "front": duplicate`},
		{"negative price", func(v *seating.Venue) { v.Tiers[0].PriceCents = -1 }, "price_cents is negative"},
		{"no stands", func(v *seating.Venue) { v.Stands = nil }, "stands: got 0"},
		{"empty stand id", func(v *seating.Venue) { v.Stands[1].ID = "" }, `stands[1].id "": empty`},
		{"long stand id", func(v *seating.Venue) { v.Stands[1].ID = strings.Repeat("B", 33) }, "longer than 32"},
		{"duplicate stand", func(v *seating.Venue) { v.Stands[1].ID = "A" }, `stands[1].id "A": duplicate`},
		{"stand without rows", func(v *seating.Venue) { v.Stands[1].Rows = nil }, "stands[1] (B) has no rows"},
		{"row without seats", func(v *seating.Venue) { v.Stands[0].Rows[1].Seats = nil }, "stands[0].rows[1] (A row 2) has no seats"},
		{"duplicate row", func(v *seating.Venue) { v.Stands[0].Rows[1].ID = "1" }, `rows[1].id "1": duplicate`},
		{"bad seat id", func(v *seating.Venue) { v.Stands[0].Rows[0].Seats[2].ID = "A/1/3" }, `seats[2].id "A/1/3"`},
		{"duplicate seat across stands", func(v *seating.Venue) { v.Stands[1].Rows[0].Seats[0].ID = "A-1-1" }, `stands[1].rows[0].seats[0].id "A-1-1": duplicate`},
		{"index not static order", func(v *seating.Venue) { v.Stands[0].Rows[1].Seats[0].Index = 4 }, "stands[0].rows[1].seats[0] (A-2-1): index is 4, want 3"},
		{"index counted over the venue", func(v *seating.Venue) { v.Stands[1].Rows[0].Seats[0].Index = 5 }, "index is 5, want 0"},
		{"tier out of range", func(v *seating.Venue) { v.Stands[1].Rows[0].Seats[1].Tier = 2 }, "tier 2 out of range [0, 2)"},
		{"negative tier", func(v *seating.Venue) { v.Stands[1].Rows[0].Seats[1].Tier = -1 }, "tier -1 out of range"},
		{"NaN coordinate", func(v *seating.Venue) { v.Stands[0].Rows[0].Seats[0].X = float32(math.NaN()) }, "not finite"},
		{"too many tiers", func(v *seating.Venue) {
			v.Tiers = make([]seating.Tier, seating.MaxTiers+1)
			for i := range v.Tiers {
				v.Tiers[i].ID = fmt.Sprint("t", i)
			}
		}, "tiers: got 257, want 1 to 256"},
		{"stand too big", func(v *seating.Venue) {
			seats := make([]seating.Seat, seating.MaxStandSeats+1)
			for i := range seats {
				seats[i] = seating.Seat{ID: fmt.Sprint("B-x-", i), Index: i}
			}
			v.Stands[1].Rows = []seating.Row{{ID: "x", Seats: seats}}
		}, "stands[1] (B) has 100001 seats, more than 100000"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := venueSmall()
			c.mutate(v)
			err := v.Validate()
			if c.want == "" {
				if err != nil {
					t.Fatalf("got %v, want no error", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
			if !errors.Is(err, seating.ErrInvalidVenue) || !strings.HasPrefix(err.Error(), "seating: invalid venue: ") {
				t.Errorf("got %q, want it to wrap ErrInvalidVenue", err)
			}
		})
	}
}

func TestVenueLayouts(t *testing.T) {
	got := venueSmall().Layouts()
	want := []seating.StandLayout{
		{ID: "A", Tiers: []uint8{0, 0, 0, 1, 1}, TierCount: 2, Blocked: []int{1, 4}, Rows: []int{0, 3}},
		{ID: "B", Tiers: []uint8{1, 0}, TierCount: 2, Rows: []int{0}},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d layouts, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.ID != w.ID || !bytes.Equal(g.Tiers, w.Tiers) || g.TierCount != w.TierCount || fmt.Sprint(g.Blocked) != fmt.Sprint(w.Blocked) || fmt.Sprint(g.Rows) != fmt.Sprint(w.Rows) {
			t.Errorf("layout %d: got %+v, want %+v", i, g, w)
		}
	}
}

func TestVenueSeat(t *testing.T) {
	v := venueSmall()
	cases := []struct {
		id        string
		wantStand string
		wantIndex int
		wantOK    bool
	}{
		{"A-1-1", "A", 0, true},
		{"A-1-3", "A", 2, true},
		{"A-2-2", "A", 4, true},
		{"B-1-2", "B", 1, true},
		{"B-1-3", "", 0, false},
		{"", "", 0, false},
	}
	for _, c := range cases {
		t.Run(c.id, func(t *testing.T) {
			stand, index, ok := v.Seat(c.id)
			if stand != c.wantStand || index != c.wantIndex || ok != c.wantOK {
				t.Errorf("Seat(%q): got %q, %d, %v; want %q, %d, %v", c.id, stand, index, ok, c.wantStand, c.wantIndex, c.wantOK)
			}
			if !c.wantOK {
				return
			}
			id, ok := v.SeatID(stand, index)
			if id != c.id || !ok {
				t.Errorf("SeatID(%q, %d): got %q, %v; want %q, true", stand, index, id, ok, c.id)
			}
		})
	}
	for _, c := range []struct {
		stand string
		index int
	}{{"A", 5}, {"A", -1}, {"C", 0}} {
		if id, ok := v.SeatID(c.stand, c.index); ok {
			t.Errorf("SeatID(%q, %d): got %q, true; want false", c.stand, c.index, id)
		}
	}
}

// TestVenueConcurrentFirstUse runs the lazily built index, version and
// static map from many goroutines at once; run it with -race.
func TestVenueConcurrentFirstUse(t *testing.T) {
	v := venueGenerate(t, seating.GenerateConfig{Seats: 5000, Stands: 4})
	var wg sync.WaitGroup
	etags := make([]string, 8)
	for g := range etags {
		wg.Go(func() {
			for i := range v.Stands[g%4].Rows[0].Seats {
				id := v.Stands[g%4].Rows[0].Seats[i].ID
				if stand, index, ok := v.Seat(id); !ok || stand != v.Stands[g%4].ID || index != i {
					t.Errorf("Seat(%q): got %q, %d, %v", id, stand, index, ok)
					return
				}
			}
			_, _, etags[g] = v.StaticMap()
		})
	}
	wg.Wait()
	for _, e := range etags {
		if e != etags[0] || e == "" {
			t.Fatalf("etags: got %q, want all equal and set", etags)
		}
	}
}

func TestVenueJSONRoundTrip(t *testing.T) {
	for _, v := range []*seating.Venue{venueSmall(), venueGenerate(t, seating.GenerateConfig{Seats: 3000, Stands: 3, Seed: 3})} {
		b := venueMarshal(t, v)
		p, err := seating.ParseVenue(b)
		if err != nil {
			t.Fatalf("ParseVenue: %v", err)
		}
		if got := venueMarshal(t, p); !bytes.Equal(got, b) {
			t.Errorf("marshal after parse differs:\n got %.200s\nwant %.200s", got, b)
		}
		if p.Version() != v.Version() {
			t.Errorf("version after parse: got %s, want %s", p.Version(), v.Version())
		}
	}

	// The documented form, on the small venue.
	want := `{"name":"Small Hall","tiers":[{"id":"front","name":"Front","price_cents":5000},{"id":"back","price_cents":2000}],` +
		`"stands":[{"id":"A","name":"Stand A","rows":[{"id":"1","seats":[{"id":"A-1-1","i":0,"x":-1,"y":2,"t":0},{"id":"A-1-2","i":1,"x":0,"y":2,"t":0,"b":true},`
	if got := string(venueMarshal(t, venueSmall())); !strings.HasPrefix(got, want) {
		t.Errorf("JSON form:\n got %s\nwant %s…", got, want)
	}
}

func TestParseVenueErrors(t *testing.T) {
	good := string(venueMarshal(t, venueSmall()))
	cases := []struct {
		name string
		in   string
		want string
	}{
		{"empty", "", "seating: venue: empty input"},
		{"syntax", "{\n\"name\": \"x\",\n\"tiers\": [,]}", "seating: venue: line 3: invalid character ','"},
		{"wrong type", "{\"name\": \"x\",\n\"tiers\": 5}", "seating: venue: line 2: json: cannot unmarshal number"},
		{"unknown field", strings.Replace(good, `"price_cents"`, `"price"`, 1), `unknown field "price"`},
		{"trailing data", good + "\n{}", "seating: venue: line 2: data after the venue"},
		{"invalid content", strings.Replace(good, `"i":1,`, `"i":7,`, 1), "seating: invalid venue: stands[0].rows[0].seats[1] (A-1-2): index is 7, want 1"},
		{"null", "null", "seating: invalid venue: name is empty"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, err := seating.ParseVenue([]byte(c.in))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, %v; want an error containing %q", v, err, c.want)
			}
		})
	}
}

func TestMarshalVenueValidates(t *testing.T) {
	v := venueSmall()
	v.Stands[0].Rows[0].Seats[0].Index = 9
	if _, err := seating.MarshalVenue(v); !errors.Is(err, seating.ErrInvalidVenue) {
		t.Errorf("got %v, want ErrInvalidVenue", err)
	}
}

func TestVenueStaticMap(t *testing.T) {
	v := venueSmall()
	raw, gz, etag := v.StaticMap()
	if want := venueMarshal(t, venueSmall()); !bytes.Equal(raw, want) {
		t.Errorf("static map JSON:\n got %s\nwant %s", raw, want)
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	unzipped, err := io.ReadAll(zr)
	if err != nil || !bytes.Equal(unzipped, raw) {
		t.Errorf("gunzipped static map: got %d bytes, %v; want the JSON", len(unzipped), err)
	}
	if want := `"` + v.Version() + `"`; etag != want || len(v.Version()) != 16 {
		t.Errorf("etag: got %s, want %s (16 hex digits, quoted)", etag, want)
	}
	// Computed once: a second call returns the same bytes.
	raw2, gz2, _ := v.StaticMap()
	if &raw2[0] != &raw[0] || &gz2[0] != &gz[0] {
		t.Error("a second StaticMap built the map again")
	}
	// Any change of content changes the version.
	changes := []func(v *seating.Venue){
		func(v *seating.Venue) { v.Tiers[0].PriceCents++ },
		func(v *seating.Venue) { v.Stands[1].Rows[0].Seats[1].X += 0.01 },
		func(v *seating.Venue) { v.Stands[1].Rows[0].Seats[1].Blocked = true },
		func(v *seating.Venue) { v.Name += "!" },
	}
	for i, change := range changes {
		w := venueSmall()
		change(w)
		if w.Version() == v.Version() {
			t.Errorf("change %d kept the version %s", i, v.Version())
		}
	}
	// A venue that has no JSON form has no static map.
	w := venueSmall()
	w.Stands[0].Rows[0].Seats[0].Y = float32(math.Inf(1))
	if raw, gz, etag := w.StaticMap(); raw != nil || gz != nil || etag != "" || w.Version() != "" {
		t.Errorf("static map of a venue with an infinite coordinate: got %d, %d bytes, etag %q; want none", len(raw), len(gz), etag)
	}
}

// TestVenueSizes logs the size of the static map and the time to generate
// the 100,000-seat stadium of the issue; the numbers go to BENCHMARKS.md.
func TestVenueSizes(t *testing.T) {
	for _, c := range []struct{ seats, stands int }{{10_000, 8}, {100_000, 40}} {
		start := time.Now()
		v := venueGenerate(t, seating.GenerateConfig{Seats: c.seats, Stands: c.stands})
		gen := time.Since(start)
		start = time.Now()
		raw, gz, etag := v.StaticMap()
		t.Logf("%d seats in %d stands: generated in %v; static map %d bytes, %d gzipped (built in %v), ETag %s",
			c.seats, c.stands, gen.Round(time.Millisecond), len(raw), len(gz), time.Since(start).Round(time.Millisecond), etag)
	}
}

func BenchmarkGenerate(b *testing.B) {
	for _, c := range []struct{ seats, stands int }{{10_000, 8}, {100_000, 40}} {
		b.Run(fmt.Sprintf("seats=%d", c.seats), func(b *testing.B) {
			for b.Loop() {
				if _, err := seating.Generate(seating.GenerateConfig{Seats: c.seats, Stands: c.stands}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVenueStaticMap(b *testing.B) {
	v, err := seating.Generate(seating.GenerateConfig{Seats: 100_000, Stands: 40})
	if err != nil {
		b.Fatal(err)
	}
	js := string(venueMarshal(b, v))
	for b.Loop() {
		// A fresh venue each time, so the map is built, not fetched.
		b.StopTimer()
		p, err := seating.ParseVenue([]byte(js))
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		_, gz, _ := p.StaticMap()
		b.ReportMetric(float64(len(gz)), "gzip-bytes")
	}
}

func BenchmarkVenueSeat(b *testing.B) {
	v, err := seating.Generate(seating.GenerateConfig{Seats: 100_000, Stands: 40})
	if err != nil {
		b.Fatal(err)
	}
	ids := []string{v.Stands[0].Rows[0].Seats[0].ID, v.Stands[39].Rows[20].Seats[3].ID, "N1-999-1"}
	v.Seat(ids[0])
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		v.Seat(ids[i%len(ids)])
		i++
	}
}

func venueGenerate(t testing.TB, cfg seating.GenerateConfig) *seating.Venue {
	t.Helper()
	v, err := seating.Generate(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func venueMarshal(t testing.TB, v *seating.Venue) []byte {
	t.Helper()
	b, err := seating.MarshalVenue(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func FuzzParseVenue(f *testing.F) {
	f.Add(venueMarshal(f, venueSmall()))
	f.Add(venueMarshal(f, venueGenerate(f, seating.GenerateConfig{Seats: 40, Stands: 3, Tiers: 2, BlockedPerMille: 100})))
	f.Add([]byte(`{"name":"x","tiers":[{"id":"a","price_cents":1}],"stands":[{"id":"s","rows":[{"id":"1","seats":[{"id":"s1","i":0,"x":1e38,"y":-0,"t":0,"b":true}]}]}]}`))
	f.Add([]byte(`{"name":"x","tiers":[],"stands":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := seating.ParseVenue(b)
		if err != nil {
			return
		}
		out, err := seating.MarshalVenue(v)
		if err != nil {
			t.Fatalf("MarshalVenue of a parsed venue: %v", err)
		}
		w, err := seating.ParseVenue(out)
		if err != nil {
			t.Fatalf("ParseVenue(MarshalVenue(ParseVenue(%q))): %v", b, err)
		}
		if again := venueMarshal(t, w); !bytes.Equal(again, out) || w.Version() != v.Version() {
			t.Fatalf("round trip changed the venue: %s then %s", out, again)
		}
		layouts := v.Layouts()
		for si, st := range v.Stands {
			if len(layouts[si].Tiers) != st.SeatCount() {
				t.Fatalf("stand %s: layout of %d seats, want %d", st.ID, len(layouts[si].Tiers), st.SeatCount())
			}
			for _, r := range st.Rows {
				for _, s := range r.Seats {
					if stand, index, ok := v.Seat(s.ID); !ok || stand != st.ID || index != s.Index {
						t.Fatalf("Seat(%q): got %q, %d, %v; want %q, %d", s.ID, stand, index, ok, st.ID, s.Index)
					}
				}
			}
		}
		if raw, _, etag := v.StaticMap(); !bytes.Equal(raw, out) || etag == "" {
			t.Fatalf("static map: got %d bytes, etag %q; want the JSON form", len(raw), etag)
		}
	})
}
