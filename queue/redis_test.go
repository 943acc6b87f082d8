package queue_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/foyerhq/foyer/internal/redistest"
	"github.com/foyerhq/foyer/queue"
	"github.com/foyerhq/foyer/queue/queuetest"
)

func TestRedisConformance(t *testing.T) {
	srv := redistest.Start(t)
	var n atomic.Int64
	queuetest.Run(t, func(t *testing.T) (queue.Store, func(string)) {
		c := srv.Client(t)
		r := queue.NewRedis(c, queue.RedisOptions{Prefix: fmt.Sprint("t", n.Add(1))})
		return r, func(event string) {
			if err := c.Del(context.Background(), r.Keys(event)...).Err(); err != nil {
				t.Fatalf("forgetting %s: %v", event, err)
			}
		}
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
		{"", "foyer:{ev:demo}:"},
		{"tenant-a", "tenant-a:{ev:demo}:"},
	}
	for _, tt := range tests {
		t.Run(tt.wantBase, func(t *testing.T) {
			r := queue.NewRedis(c, queue.RedisOptions{Prefix: tt.prefix})
			if got, want := r.Keys("demo"), []string{tt.wantBase + "line", tt.wantBase + "visitors", tt.wantBase + "sessions",
				tt.wantBase + "pending", tt.wantBase + "abandoned", tt.wantBase + "members", tt.wantBase + "late", tt.wantBase + "draw"}; !slices.Equal(got, want) {
				t.Errorf("Keys got %q, want %q", got, want)
			}
			if _, err := r.Join(ctx, "demo", "alice", queue.Seed{Control: queue.Control{RatePerSecond: 2.5}}); err != nil {
				t.Fatal(err)
			}
			line, err := c.HGetAll(ctx, tt.wantBase+"line").Result()
			if err != nil {
				t.Fatal(err)
			}
			fields := slices.Sorted(maps.Keys(line))
			if want := []string{"abandoned", "carried", "claim_us", "epoch", "frac", "last_us", "ll", "lw", "max_active", "paused", "pre_us",
				"prev_epoch", "rate", "serving", "session_us", "sold_out", "tail"}; !slices.Equal(fields, want) {
				t.Errorf("line fields got %q, want %q", fields, want)
			}
			if line["tail"] != "1" || line["rate"] != "2.5" {
				t.Errorf("line got tail %q rate %q, want 1 2.5", line["tail"], line["rate"])
			}
			if got, err := c.HGet(ctx, tt.wantBase+"visitors", "alice").Result(); err != nil || got != "1" {
				t.Errorf("visitors[alice] got %q, %v, want 1", got, err)
			}
		})
	}
}

// TestRedisRestart kills Redis without persistence: the line comes back
// from the seed, and the places issued before keep their order.
func TestRedisRestart(t *testing.T) {
	srv := redistest.Start(t)
	r := queue.NewRedis(redis.NewClient(&redis.Options{Addr: srv.Addr()}), queue.RedisOptions{})
	t.Cleanup(func() { r.Close() })
	ctx := t.Context()
	var old []queue.Ticket
	for i := range 50 {
		v := fmt.Sprint("a", i)
		e, err := r.Join(ctx, "ev", v, queue.Seed{})
		if err != nil {
			t.Fatal(err)
		}
		old = append(old, queue.Ticket{Event: "ev", Visitor: v, Seq: e.Seq, Epoch: e.State.Epoch})
	}
	last, err := r.Advance(ctx, "ev", queue.Seed{})
	if err != nil {
		t.Fatal(err)
	}

	srv.Restart(t)

	seed := queue.Seed{Last: last}
	var st queue.State
	for i := range 50 {
		e, err := r.Join(ctx, "ev", fmt.Sprint("b", i), seed)
		if err != nil {
			t.Fatalf("join %d after the restart: %v", i, err)
		}
		if want := uint64(51 + i); e.Seq != want || e.Existing {
			t.Errorf("join %d after the restart: got seq %d existing %v, want %d false", i, e.Seq, e.Existing, want)
		}
		st = e.State
	}
	if st.Epoch <= last.Epoch || st.PrevEpoch != last.Epoch || st.Carried != 50 || st.Tail != 100 {
		t.Errorf("got %+v, want epoch > %d, prev epoch %d, carried 50, tail 100", st, last.Epoch, last.Epoch)
	}
	for i, tk := range old {
		if standing, pos := st.Place(tk); standing != queue.Waiting || pos != uint64(i+1) {
			t.Errorf("old ticket %d: got %v at %d, want waiting at %d", i, standing, pos, i+1)
		}
	}
	// The script cache went with the restart: Script.Run fell back to
	// EVAL once, then EVALSHA found the script again.
	stats := srv.CommandStats(t)
	if stats["eval"] != 1 || stats["evalsha"] < 49 {
		t.Errorf("got %d EVAL and %d EVALSHA, want 1 and at least 49", stats["eval"], stats["evalsha"])
	}
}

// TestRedisStaleVisitorsIgnored loses only the line hash: the visitors left
// over must not hand out places of the lost epoch.
func TestRedisStaleVisitorsIgnored(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client(t)
	r := queue.NewRedis(c, queue.RedisOptions{})
	ctx := t.Context()
	e, err := r.Join(ctx, "ev", "alice", queue.Seed{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Del(ctx, r.Keys("ev")[0]).Err(); err != nil {
		t.Fatal(err)
	}
	again, err := r.Join(ctx, "ev", "alice", queue.Seed{Last: e.State})
	if err != nil {
		t.Fatal(err)
	}
	if again.Existing || again.Seq != 2 || again.State.PrevEpoch != e.State.Epoch {
		t.Errorf("got seq %d existing %v prev epoch %d, want 2 false %d", again.Seq, again.Existing, again.State.PrevEpoch, e.State.Epoch)
	}
}

// TestRedisOneRoundTrip counts commands on the server: each call is one
// EVALSHA, and invalid input sends nothing.
func TestRedisOneRoundTrip(t *testing.T) {
	srv := redistest.Start(t)
	r := queue.NewRedis(srv.Client(t), queue.RedisOptions{})
	ctx := t.Context()
	calls := []struct {
		name         string
		call         func(i int) error
		wantEvalSHAs int64
	}{
		{"Join", func(i int) error { _, err := r.Join(ctx, "ev", fmt.Sprint("v", i), queue.Seed{}); return err }, 1},
		{"JoinExisting", func(int) error { _, err := r.Join(ctx, "ev", "v0", queue.Seed{}); return err }, 1},
		{"Advance", func(int) error { _, err := r.Advance(ctx, "ev", queue.Seed{}); return err }, 1},
		{"SetControl", func(int) error {
			_, err := r.SetControl(ctx, "ev", queue.Control{RatePerSecond: 1}, queue.Seed{})
			return err
		}, 1},
		{"InvalidEvent", func(int) error {
			_, err := r.Join(ctx, "Ev", "v", queue.Seed{})
			return ignore(err, queue.ErrInvalidEvent)
		}, 0},
		{"InvalidVisitor", func(int) error {
			_, err := r.Join(ctx, "ev", "v|1", queue.Seed{})
			return ignore(err, queue.ErrInvalidVisitor)
		}, 0},
		{"InvalidControl", func(int) error {
			_, err := r.SetControl(ctx, "ev", queue.Control{RatePerSecond: -1}, queue.Seed{})
			return ignore(err, queue.ErrInvalidControl)
		}, 0},
	}
	// Load every script once, so EVALSHA finds them.
	for _, c := range calls[:4] {
		if err := c.call(0); err != nil {
			t.Fatal(err)
		}
	}
	const n = 10
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			before := srv.CommandStats(t)
			for i := range n {
				if err := c.call(i); err != nil {
					t.Fatal(err)
				}
			}
			after := srv.CommandStats(t)
			if got, want := after["evalsha"]-before["evalsha"], n*c.wantEvalSHAs; got != want {
				t.Errorf("got %d EVALSHA for %d calls, want %d", got, n, want)
			}
			if got := after["eval"] - before["eval"]; got != 0 {
				t.Errorf("got %d EVAL, want 0", got)
			}
		})
	}
}

func ignore(err, want error) error {
	if errors.Is(err, want) {
		return nil
	}
	return fmt.Errorf("got error %v, want %v", err, want)
}

func TestRedisScriptCacheFlushed(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client(t)
	r := queue.NewRedis(c, queue.RedisOptions{})
	ctx := t.Context()
	if _, err := r.Join(ctx, "ev", "a", queue.Seed{}); err != nil {
		t.Fatal(err)
	}
	if err := c.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if e, err := r.Join(ctx, "ev", "b", queue.Seed{}); err != nil || e.Seq != 2 {
		t.Errorf("after SCRIPT FLUSH: got seq %d, %v, want 2", e.Seq, err)
	}
}

func TestRedisUnavailable(t *testing.T) {
	closed := closedAddr(t)
	silent := silentAddr(t)
	srv := redistest.Start(t)
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	newStore := func(addr string) *queue.Redis {
		r := queue.NewRedis(redis.NewClient(&redis.Options{
			Addr:          addr,
			DialTimeout:   200 * time.Millisecond,
			ReadTimeout:   100 * time.Millisecond,
			WriteTimeout:  100 * time.Millisecond,
			MaxRetries:    -1,
			DialerRetries: 1,
		}), queue.RedisOptions{})
		t.Cleanup(func() { r.Close() })
		return r
	}
	closedClient := queue.NewRedis(redis.NewClient(&redis.Options{Addr: srv.Addr()}), queue.RedisOptions{})
	closedClient.Close()
	tests := []struct {
		name  string
		store *queue.Redis
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
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ops := []struct {
				name string
				call func() error
			}{
				{"Join", func() error { _, err := tt.store.Join(tt.ctx, "ev", "v", queue.Seed{}); return err }},
				{"Advance", func() error { _, err := tt.store.Advance(tt.ctx, "ev", queue.Seed{}); return err }},
				{"SetControl", func() error { _, err := tt.store.SetControl(tt.ctx, "ev", queue.Control{}, queue.Seed{}); return err }},
				{"Ping", func() error { return tt.store.Ping(tt.ctx) }},
			}
			for _, op := range ops {
				err := op.call()
				if !errors.Is(err, queue.ErrUnavailable) || !tt.cause(err) || !strings.HasPrefix(fmt.Sprint(err), "queue: ") {
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
	r := queue.NewRedis(c, queue.RedisOptions{})
	ctx := t.Context()
	if err := c.Set(ctx, r.Keys("ev")[0], "not a hash", 0).Err(); err != nil {
		t.Fatal(err)
	}
	_, err := r.Join(ctx, "ev", "v", queue.Seed{})
	if err == nil || errors.Is(err, queue.ErrUnavailable) || !strings.HasPrefix(err.Error(), "queue: redis join: ") || !strings.Contains(err.Error(), "WRONGTYPE") {
		t.Errorf("got %v, want a queue: redis join: error with WRONGTYPE, not ErrUnavailable", err)
	}
}

// closedAddr returns an address nothing listens on.
func closedAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// silentAddr returns an address that accepts connections and never answers.
func silentAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	return l.Addr().String()
}

func BenchmarkRedisJoin(b *testing.B) {
	srv := redistest.Start(b)
	r := queue.NewRedis(srv.Client(b), queue.RedisOptions{})
	ids := make([]string, b.N)
	for i := range ids {
		ids[i] = queue.NewVisitorID()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := r.Join(b.Context(), "ev", ids[i], queue.Seed{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRedisJoinParallel(b *testing.B) {
	srv := redistest.Start(b)
	r := queue.NewRedis(srv.Client(b), queue.RedisOptions{})
	b.ReportAllocs()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := r.Join(b.Context(), "ev", queue.NewVisitorID(), queue.Seed{}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkRedisAdvance(b *testing.B) {
	srv := redistest.Start(b)
	r := queue.NewRedis(srv.Client(b), queue.RedisOptions{})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Advance(b.Context(), "ev", queue.Seed{}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestRedisRolledBackLine simulates a failover to a replica that had not
// received the last joins: the line keeps its epoch but its counters go
// back. The caller's last known state is a floor, so no sequence number it
// saw issued is issued again.
func TestRedisRolledBackLine(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client(t)
	r := queue.NewRedis(c, queue.RedisOptions{})
	ctx := t.Context()
	var last queue.State
	for i := range 10 {
		e, err := r.Join(ctx, "show", fmt.Sprint("fan-", i), queue.Seed{Last: last})
		if err != nil {
			t.Fatal(err)
		}
		last = e.State
	}
	if _, err := r.SetControl(ctx, "show", queue.Control{RatePerSecond: 0}, queue.Seed{Last: last}); err != nil {
		t.Fatal(err)
	}
	// The replica saw only 6 joins, and 2 admissions of the 4 the caller saw.
	last.Serving = 4
	if err := c.HSet(ctx, r.Keys("show")[0], "tail", 6, "serving", 2).Err(); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"fan-6", "fan-7", "fan-8", "fan-9"} {
		c.HDel(ctx, r.Keys("show")[1], v)
	}
	e, err := r.Join(ctx, "show", "newcomer", queue.Seed{Last: last})
	if err != nil {
		t.Fatal(err)
	}
	if e.Seq != 11 || e.State.Epoch != last.Epoch {
		t.Errorf("join after the rollback: seq %d in epoch %d, want seq 11 in epoch %d", e.Seq, e.State.Epoch, last.Epoch)
	}
	if e.State.Serving != 4 {
		t.Errorf("serving after the rollback: got %d, want the caller's 4", e.State.Serving)
	}
	// A caller that saw less changes nothing.
	st, err := r.Advance(ctx, "show", queue.Seed{Last: queue.State{Epoch: last.Epoch, Tail: 3, Serving: 1}})
	if err != nil || st.Tail != 11 || st.Serving != 4 {
		t.Errorf("advance with an older view: tail %d serving %d (%v), want 11 and 4", st.Tail, st.Serving, err)
	}
}
