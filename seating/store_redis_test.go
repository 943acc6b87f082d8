package seating_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/foyerhq/foyer/internal/redistest"
	"github.com/foyerhq/foyer/seating"
	"github.com/foyerhq/foyer/seating/seatingtest"
)

// storeCommands counts the commands a server ran, but for those of clients
// connecting and of CommandStats itself.
func storeCommands(t *testing.T, srv *redistest.Server) int64 {
	var n int64
	for cmd, calls := range srv.CommandStats(t) {
		if cmd != "info" && cmd != "hello" && !strings.HasPrefix(cmd, "client|") {
			n += calls
		}
	}
	return n
}

func TestRedisConformance(t *testing.T) {
	srv := redistest.Start(t)
	var n atomic.Int64
	seatingtest.Run(t, seatingtest.Harness{
		New: func(t *testing.T, now func() time.Time, logSize int) seating.Store {
			return seating.NewRedis(srv.Client(t), seating.RedisOptions{Prefix: fmt.Sprint("t", n.Add(1)), Now: now, LogSize: logSize})
		},
		Calls: func(t *testing.T) int64 { return storeCommands(t, srv) },
	})
}

func TestRedisKeyLayout(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client(t)
	ctx := t.Context()
	tests := []struct {
		prefix   string
		wantBase string
	}{
		{"", "seat:{ev:show:st:A}:"},
		{"tenant-a", "tenant-a:{ev:show:st:A}:"},
	}
	for _, tt := range tests {
		t.Run(tt.wantBase, func(t *testing.T) {
			r := seating.NewRedis(c, seating.RedisOptions{Prefix: tt.prefix})
			names := []string{"meta", "status", "holds", "owners", "exp", "byowner", "log", "tiers", "seatinfo", "counts", "rows", "keys"}
			var want []string
			for _, n := range names {
				want = append(want, tt.wantBase+n)
			}
			if got := r.Keys("show", "A"); !slices.Equal(got, want) {
				t.Fatalf("Keys got %q, want %q", got, want)
			}
			if err := r.Prepare(ctx, "show", seatingtest.Layouts()); err != nil {
				t.Fatal(err)
			}
			h, err := r.Hold(ctx, "show", "A", seating.HoldRequest{Owner: "al|ce", Seats: []int{2, 5}, TTL: time.Minute, Key: "k1"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := r.Confirm(ctx, "show", h.ID, "al|ce"); err != nil {
				t.Fatal(err)
			}
			b, err := r.Hold(ctx, "show", "A", seating.HoldRequest{Owner: "bob", Seats: []int{7}, TTL: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			snap, err := r.Snapshot(ctx, "show", "A")
			if err != nil {
				t.Fatal(err)
			}
			status, _ := c.Get(ctx, want[1]).Result()
			if status != string(snap.Status) {
				t.Errorf("status key got %x, want the snapshot's %x", status, snap.Status)
			}
			// The status key is the packed encoding, read by BITFIELD u2.
			u2, _ := c.BitField(ctx, want[1], "GET", "u2", "#2", "GET", "u2", "#7", "GET", "u2", "#9", "GET", "u2", "#0").Result()
			if wantU2 := []int64{2, 1, 3, 0}; !slices.Equal(u2, wantU2) {
				t.Errorf("BITFIELD u2 of seats 2 7 9 0 got %v, want %v", u2, wantU2)
			}
			rec, _ := c.HGet(ctx, want[2], h.ID).Result()
			wantRec := fmt.Sprintf("c|%d|%d|2|2,5|k1|al|ce", h.ExpiresAt.Add(-time.Minute).UnixMilli(), h.ExpiresAt.UnixMilli())
			if rec != wantRec {
				t.Errorf("hold record got %q, want %q", rec, wantRec)
			}
			owners, _ := c.HGetAll(ctx, want[3]).Result()
			if wantOwners := map[string]string{"2": h.ID, "5": h.ID, "7": b.ID}; !reflect.DeepEqual(owners, wantOwners) {
				t.Errorf("owners got %v, want %v", owners, wantOwners)
			}
			if exp, _ := c.ZRangeWithScores(ctx, want[4], 0, -1).Result(); len(exp) != 1 || exp[0].Member != b.ID || int64(exp[0].Score) != b.ExpiresAt.UnixMilli() {
				t.Errorf("exp got %v, want only %s at %d", exp, b.ID, b.ExpiresAt.UnixMilli())
			}
			if log, _ := c.LRange(ctx, want[6], 0, -1).Result(); !slices.Equal(log, []string{"1:2:1:0", "1:5:1:1", "2:2:2:0", "2:5:2:1", "3:7:1:0"}) {
				t.Errorf("log got %q", log)
			}
			meta, _ := c.HGetAll(ctx, want[0]).Result()
			if wantMeta := map[string]string{"v": "3", "n": "30", "tc": "2", "nr": "3"}; !reflect.DeepEqual(meta, wantMeta) {
				t.Errorf("meta got %v, want %v", meta, wantMeta)
			}
			// Tier 0: 11 free, 1 held, 2 sold, 1 blocked; tier 1: 15 free.
			// Then the bounds of the longest free runs: of tier 0 and 1
			// in any row (9, 10), of tier 0 in rows 0 and 2 (9 and 5, as
			// prepared: holds leave them), of tier 1 in row 1 (10).
			counts, _ := c.BitField(ctx, want[9], "GET", "u32", "#0", "GET", "u32", "#1", "GET", "u32", "#2", "GET", "u32", "#3",
				"GET", "u32", "#4", "GET", "u32", "#8", "GET", "u32", "#9", "GET", "u32", "#10", "GET", "u32", "#12", "GET", "u32", "#14").Result()
			if wantCounts := []int64{11, 1, 2, 1, 15, 9, 10, 9, 5, 10}; !slices.Equal(counts, wantCounts) {
				t.Errorf("counts got %v, want %v", counts, wantCounts)
			}
			info, _ := c.BitField(ctx, want[8], "GET", "u32", "#9", "GET", "u32", "#27").Result()
			if wantInfo := []int64{0, 1<<24 | 2}; !slices.Equal(info, wantInfo) {
				t.Errorf("seat info of 9 and 27 got %v, want %v", info, wantInfo)
			}
			if got, _ := c.HGet(ctx, want[11], "k1|al|ce").Result(); got != h.ID {
				t.Errorf("keys got %q, want %q", got, h.ID)
			}
		})
	}
}

// TestRedisOneRoundTrip counts commands on the server: Prepare loads every
// script, so even the first hold is one EVALSHA, never an EVAL.
func TestRedisOneRoundTrip(t *testing.T) {
	srv := redistest.Start(t)
	r := seating.NewRedis(srv.Client(t), seating.RedisOptions{})
	ctx := t.Context()
	if err := r.Prepare(ctx, "show", seatingtest.Layouts()); err != nil {
		t.Fatal(err)
	}
	var h seating.Hold
	calls := []struct {
		name string
		call func() error
	}{
		{"Hold", func() (err error) {
			h, err = r.Hold(ctx, "show", "A", seating.HoldRequest{Owner: "a", Seats: []int{1, 2}, TTL: time.Minute})
			return err
		}},
		{"BestAvailable", func() error {
			_, err := r.Hold(ctx, "show", "A", seating.HoldRequest{Owner: "a", Tier: 1, Quantity: 2, TTL: time.Minute})
			return err
		}},
		{"Extend", func() error { _, err := r.Extend(ctx, "show", h.ID, "a", time.Minute, time.Hour); return err }},
		{"Confirm", func() error { _, err := r.Confirm(ctx, "show", h.ID, "a"); return err }},
		{"Release", func() error {
			_, err := r.Release(ctx, "show", h.ID, "b")
			return storeIgnore(err, seating.ErrNotOwner)
		}},
		{"Snapshot", func() error { _, err := r.Snapshot(ctx, "show", "A"); return err }},
		{"Changes", func() error { _, _, _, err := r.Changes(ctx, "show", "A", 0); return err }},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			before := srv.CommandStats(t)
			if err := c.call(); err != nil {
				t.Fatal(err)
			}
			after := srv.CommandStats(t)
			if got := after["evalsha"] - before["evalsha"]; got != 1 {
				t.Errorf("got %d EVALSHA, want 1", got)
			}
			if got := after["eval"] - before["eval"]; got != 0 {
				t.Errorf("got %d EVAL, want 0", got)
			}
		})
	}
}

func storeIgnore(err, want error) error {
	if errors.Is(err, want) {
		return nil
	}
	return fmt.Errorf("got error %v, want %v", err, want)
}

// TestRedisServerClock checks the default clock, Redis's TIME: a hold
// expires when the server's clock reaches its expiry, whatever the
// client's.
func TestRedisServerClock(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client(t)
	r := seating.NewRedis(c, seating.RedisOptions{})
	ctx := t.Context()
	if err := r.Prepare(ctx, "show", seatingtest.Layouts()); err != nil {
		t.Fatal(err)
	}
	before, err := c.Time(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	h, err := r.Hold(ctx, "show", "B", seating.HoldRequest{Owner: "a", Seats: []int{1}, TTL: 30 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	after, _ := c.Time(ctx).Result()
	lo, hi := before.Add(30*time.Millisecond).Truncate(time.Millisecond), after.Add(30*time.Millisecond)
	if h.ExpiresAt.Before(lo) || h.ExpiresAt.After(hi) {
		t.Errorf("expiry got %v, want between %v and %v of the server's clock", h.ExpiresAt, lo, hi)
	}
	// Wait for the server's clock, not for a guessed duration.
	for {
		now, err := c.Time(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		if !now.Before(h.ExpiresAt) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if _, err := r.Confirm(ctx, "show", h.ID, "a"); !errors.Is(err, seating.ErrExpired) {
		t.Errorf("Confirm at the server's expiry got %v, want ErrExpired", err)
	}
}

// storeLoseReplies is a client hook that, while on, lets commands run and
// then fails them with a timeout, as a reply lost on the network would.
type storeLoseReplies struct{ on atomic.Bool }

func (h *storeLoseReplies) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *storeLoseReplies) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if err == nil && h.on.Load() {
			cmd.SetErr(context.DeadlineExceeded)
			return context.DeadlineExceeded
		}
		return err
	}
}

func (h *storeLoseReplies) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// TestRedisLostReplies retries each call whose reply was lost after the
// script ran: the retry finds the state the first call left.
func TestRedisLostReplies(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client(t)
	lose := &storeLoseReplies{}
	c.AddHook(lose)
	r := seating.NewRedis(c, seating.RedisOptions{})
	ctx := t.Context()
	if err := r.Prepare(ctx, "show", seatingtest.Layouts()); err != nil {
		t.Fatal(err)
	}
	lost := func(name string, call func() error) {
		t.Helper()
		lose.on.Store(true)
		err := call()
		lose.on.Store(false)
		if !errors.Is(err, seating.ErrUnavailable) {
			t.Fatalf("%s with its reply lost: got %v, want ErrUnavailable", name, err)
		}
	}
	req := seating.HoldRequest{Owner: "alice", Seats: []int{3, 4}, TTL: time.Minute, Key: "try-1"}
	lost("Hold", func() error { _, err := r.Hold(ctx, "show", "A", req); return err })
	h, err := r.Hold(ctx, "show", "A", req)
	if err != nil || !slices.Equal(h.Seats, []int{3, 4}) || h.Version != 1 {
		t.Fatalf("keyed hold retried: got %+v, %v, want seats 3 4 at version 1", h, err)
	}
	// Without a key, the retry sees its own seats taken.
	plain := seating.HoldRequest{Owner: "alice", Seats: []int{6}, TTL: time.Minute}
	lost("HoldWithoutKey", func() error { _, err := r.Hold(ctx, "show", "A", plain); return err })
	var ce *seating.ConflictError
	if _, err := r.Hold(ctx, "show", "A", plain); !errors.As(err, &ce) || !slices.Equal(ce.Taken, []int{6}) {
		t.Errorf("unkeyed hold retried: got %v, want a conflict on seat 6", err)
	}
	lost("Confirm", func() error { _, err := r.Confirm(ctx, "show", h.ID, "alice"); return err })
	if got, err := r.Confirm(ctx, "show", h.ID, "alice"); err != nil || got.State != seating.HoldConfirmed || got.Version != 3 {
		t.Errorf("Confirm retried: got %+v, %v, want confirmed at version 3", got, err)
	}
	b, err := r.Hold(ctx, "show", "A", seating.HoldRequest{Owner: "bob", Seats: []int{8}, TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	lost("Release", func() error { _, err := r.Release(ctx, "show", b.ID, "bob"); return err })
	if v, err := r.Release(ctx, "show", b.ID, "bob"); err != nil || v != 5 {
		t.Errorf("Release retried: got %d, %v, want 5, nil", v, err)
	}
	d, err := r.Dump(ctx, "show", "A")
	if err != nil {
		t.Fatal(err)
	}
	if err := seatingtest.CheckInvariants(d, seatingtest.Layouts()[0]); err != nil {
		t.Error(err)
	}
	if len(d.Holds) != 2 {
		t.Errorf("got %d holds, want 2 (alice's sale and her unkeyed hold)", len(d.Holds))
	}
}

func TestRedisScriptCacheFlushed(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client(t)
	r := seating.NewRedis(c, seating.RedisOptions{})
	ctx := t.Context()
	if err := r.Prepare(ctx, "show", seatingtest.Layouts()); err != nil {
		t.Fatal(err)
	}
	if err := c.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if h, err := r.Hold(ctx, "show", "A", seating.HoldRequest{Owner: "a", Seats: []int{1}, TTL: time.Minute}); err != nil || h.Version != 1 {
		t.Errorf("after SCRIPT FLUSH: got %+v, %v, want a hold at version 1", h, err)
	}
}

// TestRedisRestart loses Redis without persistence: calls say the stand is
// not prepared (never "seats free"), until Prepare makes it again.
func TestRedisRestart(t *testing.T) {
	srv := redistest.Start(t)
	r := seating.NewRedis(redis.NewClient(&redis.Options{Addr: srv.Addr()}), seating.RedisOptions{})
	t.Cleanup(func() { r.Close() })
	ctx := t.Context()
	if err := r.Prepare(ctx, "show", seatingtest.Layouts()); err != nil {
		t.Fatal(err)
	}
	h, err := r.Hold(ctx, "show", "A", seating.HoldRequest{Owner: "a", Seats: []int{1}, TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	srv.Restart(t)
	var err2 error
	for range 3 { // pooled connections fail once
		if _, err2 = r.Confirm(ctx, "show", h.ID, "a"); !errors.Is(err2, seating.ErrUnavailable) {
			break
		}
	}
	if !errors.Is(err2, seating.ErrNotPrepared) {
		t.Errorf("Confirm after a restart: got %v, want ErrNotPrepared", err2)
	}
	if err := r.Prepare(ctx, "show", seatingtest.Layouts()); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Hold(ctx, "show", "A", seating.HoldRequest{Owner: "a", Seats: []int{1}, TTL: time.Minute}); err != nil {
		t.Errorf("Hold after Prepare: %v", err)
	}
}

func TestRedisUnavailable(t *testing.T) {
	closed := storeClosedAddr(t)
	silent := storeSilentAddr(t)
	srv := redistest.Start(t)
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	newStore := func(addr string) *seating.Redis {
		r := seating.NewRedis(redis.NewClient(&redis.Options{
			Addr:          addr,
			DialTimeout:   200 * time.Millisecond,
			ReadTimeout:   100 * time.Millisecond,
			WriteTimeout:  100 * time.Millisecond,
			MaxRetries:    -1,
			DialerRetries: 1,
		}), seating.RedisOptions{})
		t.Cleanup(func() { r.Close() })
		return r
	}
	closedClient := seating.NewRedis(redis.NewClient(&redis.Options{Addr: srv.Addr()}), seating.RedisOptions{})
	closedClient.Close()
	tests := []struct {
		name  string
		store *seating.Redis
		ctx   context.Context
		cause func(error) bool
	}{
		{"ConnectionRefused", newStore(closed), t.Context(), func(err error) bool {
			var op *net.OpError
			return errors.As(err, &op)
		}},
		{"NoAnswer", newStore(silent), t.Context(), func(err error) bool {
			var ne net.Error
			return errors.As(err, &ne) && ne.Timeout()
		}},
		{"ContextCancelled", newStore(srv.Addr()), cancelled, func(err error) bool { return errors.Is(err, context.Canceled) }},
		{"ClientClosed", closedClient, t.Context(), func(err error) bool { return errors.Is(err, redis.ErrClosed) }},
	}
	const id = "A.AAAAAAAAAAAAAAAA"
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, ctx := tt.store, tt.ctx
			ops := []struct {
				name string
				call func() error
			}{
				{"Prepare", func() error { return s.Prepare(ctx, "show", seatingtest.Layouts()) }},
				{"Hold", func() error {
					_, err := s.Hold(ctx, "show", "A", seating.HoldRequest{Owner: "a", Seats: []int{1}, TTL: time.Minute})
					return err
				}},
				{"Extend", func() error { _, err := s.Extend(ctx, "show", id, "a", time.Minute, time.Hour); return err }},
				{"Release", func() error { _, err := s.Release(ctx, "show", id, "a"); return err }},
				{"Confirm", func() error { _, err := s.Confirm(ctx, "show", id, "a"); return err }},
				{"Snapshot", func() error { _, err := s.Snapshot(ctx, "show", "A"); return err }},
				{"Changes", func() error { _, _, _, err := s.Changes(ctx, "show", "A", 0); return err }},
				{"Ping", func() error { return s.Ping(ctx) }},
			}
			for _, op := range ops {
				err := op.call()
				if !errors.Is(err, seating.ErrUnavailable) || !tt.cause(err) || !strings.HasPrefix(fmt.Sprint(err), "seating: ") {
					t.Errorf("%s: got %v, want ErrUnavailable keeping its cause", op.name, err)
				}
			}
		})
	}
}

// TestRedisErrorNotUnavailable checks that an error Redis answers (here a
// key of the wrong type) is not mistaken for an outage.
func TestRedisErrorNotUnavailable(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client(t)
	r := seating.NewRedis(c, seating.RedisOptions{})
	ctx := t.Context()
	if err := c.Set(ctx, r.Keys("show", "A")[0], "not a hash", 0).Err(); err != nil {
		t.Fatal(err)
	}
	_, err := r.Snapshot(ctx, "show", "A")
	if err == nil || errors.Is(err, seating.ErrUnavailable) || !strings.HasPrefix(err.Error(), "seating: redis snapshot: ") || !strings.Contains(err.Error(), "WRONGTYPE") {
		t.Errorf("got %v, want a seating: redis snapshot: error with WRONGTYPE, not ErrUnavailable", err)
	}
}

// storeClosedAddr returns an address nothing listens on.
func storeClosedAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// storeSilentAddr returns an address that accepts connections and never
// answers.
func storeSilentAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex // guards conns
	var conns []net.Conn
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	return l.Addr().String()
}

// TestRedisMatchesMemory runs one random sequence of calls against both
// stores on one clock: every answer, version, snapshot, change log and the
// final state must agree, hold ids aside. The Lua scripts mirror the
// memory store's standLedger; this is where a drift shows.
func TestRedisMatchesMemory(t *testing.T) {
	srv := redistest.Start(t)
	clock := seatingtest.NewClock()
	stores := []seating.Store{
		seating.NewMemoryWithOptions(seating.MemoryOptions{Now: clock.Now, LogSize: 40}),
		seating.NewRedis(srv.Client(t), seating.RedisOptions{Now: clock.Now, LogSize: 40}),
	}
	layout := seating.StandLayout{ID: "M", TierCount: 3, Blocked: []int{5, 31, 32}, Rows: []int{0, 10, 10, 22, 30, 45}}
	for i := range 60 {
		layout.Tiers = append(layout.Tiers, uint8(i/7%3))
	}
	ctx := t.Context()
	for _, s := range stores {
		if err := s.Prepare(ctx, "ev", []seating.StandLayout{layout}); err != nil {
			t.Fatal(err)
		}
	}
	rng := rand.New(rand.NewPCG(7, 11))
	ids := [2]map[string]int{{}, {}}
	var holds [2][]seating.Hold
	norm := func(k int, h seating.Hold) string {
		n, ok := ids[k][h.ID]
		if !ok {
			n = len(ids[k])
			ids[k][h.ID] = n
			holds[k] = append(holds[k], h)
		}
		h.ID = fmt.Sprint("#", n)
		return fmt.Sprintf("%+v", h)
	}
	owners := []string{"ann", "ben", "cid"}
	for step := range 1500 {
		var results [2]string
		op := rng.IntN(12)
		owner := owners[rng.IntN(len(owners))]
		pick := rng.IntN(len(holds[0]) + 1)
		var req seating.HoldRequest
		switch op {
		case 0, 1, 2, 3:
			start, n := rng.IntN(60), 1+rng.IntN(4)
			for i := range n {
				req.Seats = append(req.Seats, (start+i*(1+rng.IntN(2)))%60)
			}
			slices.Sort(req.Seats)
			req.Seats = slices.Compact(req.Seats)
		case 4, 5:
			req.Tier, req.Quantity = rng.IntN(3), 1+rng.IntN(5)
		}
		req.Owner, req.TTL = owner, time.Duration(1+rng.IntN(4000))*time.Millisecond
		if rng.IntN(3) == 0 {
			req.MaxSeats = 6
		}
		if rng.IntN(4) == 0 {
			req.Key = fmt.Sprint("k", rng.IntN(3))
		}
		since := uint64(rng.IntN(40))
		advance := time.Duration(rng.IntN(1500)) * time.Millisecond
		for k, s := range stores {
			var id string
			if pick < len(holds[k]) {
				id = holds[k][pick].ID
			}
			var h seating.Hold
			var err error
			var extra string
			switch op {
			case 0, 1, 2, 3, 4, 5:
				h, err = s.Hold(ctx, "ev", "M", req)
			case 6:
				h, err = s.Confirm(ctx, "ev", id, owner)
			case 7:
				var v uint64
				v, err = s.Release(ctx, "ev", id, owner)
				extra = fmt.Sprint(v)
			case 8:
				h, err = s.Extend(ctx, "ev", id, owner, time.Second, 3*time.Second)
			case 9:
				var snap seating.StandSnapshot
				snap, err = s.Snapshot(ctx, "ev", "M")
				extra = fmt.Sprintf("%+v", snap)
			case 10:
				var ch []seating.Change
				var v uint64
				var ok bool
				ch, v, ok, err = s.Changes(ctx, "ev", "M", since)
				extra = fmt.Sprint(ch, v, ok)
			case 11:
				if k == 0 {
					clock.Add(advance)
				}
			}
			if err == nil && h.ID != "" {
				extra = norm(k, h)
			}
			results[k] = fmt.Sprintf("%s %s", storeErrKind(err), extra)
		}
		if results[0] != results[1] {
			t.Fatalf("step %d (op %d, hold #%d, %+v): memory answered\n\t%s\nredis answered\n\t%s", step, op, pick, req, results[0], results[1])
		}
	}
	var dumps [2]seating.StandDump
	for k, s := range stores {
		d, err := s.(seatingtest.Dumper).Dump(ctx, "ev", "M")
		if err != nil {
			t.Fatal(err)
		}
		if err := seatingtest.CheckInvariants(d, layout); err != nil {
			t.Errorf("store %d: %v", k, err)
		}
		for i := range d.Holds {
			d.Holds[i].ID = fmt.Sprint("#", ids[k][d.Holds[i].ID])
		}
		slices.SortFunc(d.Holds, func(a, b seating.Hold) int { return strings.Compare(a.ID, b.ID) })
		for s, id := range d.Owners {
			d.Owners[s] = fmt.Sprint("#", ids[k][id])
		}
		dumps[k] = d
	}
	if !reflect.DeepEqual(dumps[0], dumps[1]) {
		t.Errorf("final state: memory has\n\t%+v\nredis has\n\t%+v", dumps[0], dumps[1])
	}
	if len(ids[0]) < 100 || dumps[0].Version < 100 {
		t.Errorf("the sequence did little: %d holds made, version %d", len(ids[0]), dumps[0].Version)
	}
}

// storeErrKind names an error by what callers branch on.
func storeErrKind(err error) string {
	var ce *seating.ConflictError
	if errors.As(err, &ce) {
		return fmt.Sprintf("conflict%v@%d", ce.Taken, ce.Version)
	}
	for _, e := range []error{seating.ErrConfirmed, seating.ErrUnavailable, seating.ErrNoSeats, seating.ErrHoldNotFound,
		seating.ErrExpired, seating.ErrNotOwner, seating.ErrCapExceeded, seating.ErrInvalid, seating.ErrNotPrepared} {
		if errors.Is(err, e) {
			return e.Error()
		}
	}
	if err != nil {
		return "other: " + err.Error()
	}
	return "ok"
}

// storeBenchLayouts is a 100,000-seat venue: 40 stands of 50 rows of 50
// seats, four tiers by row.
func storeBenchLayouts() []seating.StandLayout {
	out := make([]seating.StandLayout, 40)
	for s := range out {
		l := seating.StandLayout{ID: fmt.Sprintf("S%02d", s), TierCount: 4}
		for r := range 50 {
			l.Rows = append(l.Rows, 50*r)
			for range 50 {
				l.Tiers = append(l.Tiers, uint8(r/13))
			}
		}
		out[s] = l
	}
	return out
}

// BenchmarkRedisHold measures explicit holds of 1 to 4 adjacent seats at
// random places of a 100,000-seat venue, from many goroutines on one local
// Redis. Each run prepares as many copies of the venue (events) as keep it
// under a tenth full, so holds rarely conflict and nothing needs
// releasing. Every seat won is flagged client-side: a seat won twice is a
// double hold; at the end every stand is dumped and checked.
func BenchmarkRedisHold(b *testing.B) {
	srv := redistest.Start(b)
	client := redis.NewClient(&redis.Options{Addr: srv.Addr(), PoolSize: 64})
	b.Cleanup(func() { client.Close() })
	r := seating.NewRedis(client, seating.RedisOptions{})
	ctx := b.Context()
	layouts := storeBenchLayouts()
	const venueSeats, standSeats = 100_000, 2_500
	venues := max(1, (b.N*5/2+venueSeats/10-1)/(venueSeats/10))
	events := make([]string, venues)
	for v := range venues {
		events[v] = fmt.Sprint("bench", v)
		if err := r.Prepare(ctx, events[v], layouts); err != nil {
			b.Fatal(err)
		}
	}
	won := make([]atomic.Bool, venues*venueSeats)
	var holds, conflicts, doubles atomic.Int64
	var seed atomic.Uint64
	b.SetParallelism(16)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		rng := rand.New(rand.NewPCG(seed.Add(1), 3))
		owner := fmt.Sprint("fan", rng.Uint32())
		seats := make([]int, 0, 4)
		for pb.Next() {
			v, st, n := rng.IntN(venues), rng.IntN(len(layouts)), 1+rng.IntN(4)
			first := rng.IntN(standSeats - n + 1)
			seats = seats[:0]
			for i := range n {
				seats = append(seats, first+i)
			}
			_, err := r.Hold(ctx, events[v], layouts[st].ID, seating.HoldRequest{Owner: owner, Seats: seats, TTL: time.Hour})
			switch {
			case err == nil:
				holds.Add(1)
				for _, s := range seats {
					if !won[v*venueSeats+st*standSeats+s].CompareAndSwap(false, true) {
						doubles.Add(1)
					}
				}
			case errors.Is(err, seating.ErrConflict):
				conflicts.Add(1)
			default:
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(holds.Load())/b.Elapsed().Seconds(), "holds/s")
	b.ReportMetric(float64(conflicts.Load())/float64(b.N), "conflicts/op")
	b.ReportMetric(float64(doubles.Load()), "double-holds")
	if doubles.Load() != 0 {
		b.Errorf("%d seats won twice", doubles.Load())
	}
	// Every seat held in the store was won by exactly one fan.
	for v := range venues {
		for st, l := range layouts {
			d, err := r.Dump(ctx, events[v], l.ID)
			if err != nil {
				b.Fatal(err)
			}
			if err := seatingtest.CheckInvariants(d, l); err != nil {
				b.Fatal(err)
			}
			for s := range standSeats {
				if held := contentionStatus(d.Status, s) == seating.Held; held != won[v*venueSeats+st*standSeats+s].Load() {
					b.Fatalf("venue %d stand %s seat %d: held %v, won %v", v, l.ID, s, held, !held)
				}
			}
		}
	}
}
