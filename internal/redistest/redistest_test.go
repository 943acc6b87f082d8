package redistest_test

import (
	"errors"
	"maps"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/foyerhq/foyer/internal/redistest"
)

func TestStartAndRestart(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client(t)
	ctx := t.Context()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	addr := srv.Addr()
	srv.Restart(t)
	if srv.Addr() != addr {
		t.Errorf("after Restart got address %s, want %s", srv.Addr(), addr)
	}
	// The client's pooled connection died with the server; a new one
	// finds the server empty.
	got, err := srv.Client(t).Get(ctx, "k").Result()
	if !errors.Is(err, redis.Nil) {
		t.Errorf("after Restart got %q, %v, want redis.Nil", got, err)
	}
}

func TestServersAreSeparate(t *testing.T) {
	a, b := redistest.Start(t), redistest.Start(t)
	if a.Addr() == b.Addr() {
		t.Fatalf("both servers got %s", a.Addr())
	}
	ctx := t.Context()
	if err := a.Client(t).Set(ctx, "k", "a", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := b.Client(t).Get(ctx, "k").Err(); !errors.Is(err, redis.Nil) {
		t.Errorf("got %v from the other server, want redis.Nil", err)
	}
}

func TestCommandStats(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client(t)
	ctx := t.Context()
	for range 3 {
		if err := c.Incr(ctx, "n").Err(); err != nil {
			t.Fatal(err)
		}
	}
	if got := srv.CommandStats(t)["incr"]; got != 3 {
		t.Errorf("got %d INCR calls, want 3", got)
	}
}

func TestParseCommandStats(t *testing.T) {
	tests := []struct {
		name    string
		info    string
		want    map[string]int64
		wantErr bool
	}{
		{"Empty", "# Commandstats\r\n", map[string]int64{}, false},
		{"Commands", "# Commandstats\r\n" +
			"cmdstat_evalsha:calls=12,usec=340,usec_per_call=28.33,rejected_calls=0,failed_calls=1\r\n" +
			"cmdstat_client|setinfo:calls=2,usec=3,usec_per_call=1.50,rejected_calls=0,failed_calls=0\r\n" +
			"cmdstat_ping:calls=1,usec=0,usec_per_call=0.00\r\n",
			map[string]int64{"evalsha": 12, "client|setinfo": 2, "ping": 1}, false},
		{"NoCalls", "cmdstat_get:usec=1\r\n", nil, true},
		{"BadCalls", "cmdstat_get:calls=x\r\n", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := redistest.ParseCommandStats(tt.info)
			if (err != nil) != tt.wantErr || !maps.Equal(got, tt.want) {
				t.Errorf("got %v, %v, want %v (error %v)", got, err, tt.want, tt.wantErr)
			}
		})
	}
}
