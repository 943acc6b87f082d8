package seating_test

import (
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/foyerhq/foyer/internal/redistest"
)

func TestTmpCalls(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client(t)
	ctx := t.Context()
	for _, src := range []string{
		`return 1`,
		`for i=1,15 do redis.call('HGET', KEYS[1], 'x') end return 1`,
		`for i=1,15 do redis.call('BITFIELD_RO', KEYS[1], 'GET', 'u2', '#5', 'GET', 'u2', '#6') end return 1`,
		`local function f() return 1 end local function g() return 2 end local function h() return 3 end return 1`,
		`local t = {} for i=1,200 do t[i] = i end return 1`,
	} {
		s := redis.NewScript(src)
		c.ConfigResetStat(ctx)
		for range 3000 {
			if err := s.Run(ctx, c, []string{"k"}).Err(); err != nil {
				t.Fatal(err)
			}
		}
		info, _ := c.Info(ctx, "commandstats").Result()
		for _, l := range strings.Split(info, "\n") {
			if strings.Contains(l, "evalsha") {
				t.Log(src[:min(20, len(src))], l)
			}
		}
	}
}
