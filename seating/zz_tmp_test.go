package seating_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/foyerhq/foyer/internal/redistest"
	"github.com/foyerhq/foyer/seating"
)

func TestTmpCost(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client(t)
	r := seating.NewRedis(c, seating.RedisOptions{})
	ctx := t.Context()
	if err := r.Prepare(ctx, "bench", storeBenchLayouts()); err != nil {
		t.Fatal(err)
	}
	c.ConfigResetStat(ctx)
	start := time.Now()
	for i := range 5000 {
		st := i % 40
		s := (i * 7) % 2400
		_, err := r.Hold(ctx, "bench", fmt.Sprintf("S%02d", st), seating.HoldRequest{Owner: "o", Seats: []int{s, s + 1}, TTL: time.Hour})
		if err != nil && !strings.Contains(err.Error(), "taken") {
			t.Fatal(err)
		}
	}
	el := time.Since(start)
	info, _ := c.Info(ctx, "commandstats").Result()
	for _, l := range strings.Split(info, "\n") {
		if strings.Contains(l, "evalsha") {
			t.Log(l)
		}
	}
	t.Log(el / 5000)
}
