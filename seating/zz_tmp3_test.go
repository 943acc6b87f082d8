package seating

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/foyerhq/foyer/internal/redistest"
)

func TestTmpProfile(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client(t)
	r := NewRedis(c, RedisOptions{})
	ctx := t.Context()
	var layouts []StandLayout
	for s := range 40 {
		l := StandLayout{ID: fmt.Sprintf("S%02d", s), TierCount: 4}
		for r := range 50 {
			l.Rows = append(l.Rows, 50*r)
			for range 50 {
				l.Tiers = append(l.Tiers, uint8(r/13))
			}
		}
		layouts = append(layouts, l)
	}
	if err := r.Prepare(ctx, "bench", layouts); err != nil {
		t.Fatal(err)
	}
	hold := strings.SplitN(holdScript.Hash(), "", 1)[0]
	_ = hold
	variants := map[string]string{
		"prelude": redisStorePrelude + "return 1",
		"preludeBF": redisStorePrelude + `
local ga = {}
for _, s in ipairs({5, 6}) do ga[#ga + 1] = 'GET'; ga[#ga + 1] = 'u2'; ga[#ga + 1] = '#' .. s end
local st = redis.call('BITFIELD_RO', KEYS[2], unpack(ga))
return 1`,
		"change": redisStorePrelude + `change({7 + math.random(0,2000), 8}, 0, 1) return 1`,
		"changeFinish": redisStorePrelude + `change({7 + math.random(0,2000), 8}, 0, 1) finish() return 1`,
	}
	for name, src := range variants {
		s := redis.NewScript(src)
		c.ConfigResetStat(ctx)
		start := time.Now()
		for i := range 3000 {
			if err := s.Run(ctx, c, r.Keys("bench", fmt.Sprintf("S%02d", i%40)), -1, 4096, "x").Err(); err != nil {
				t.Fatal(name, err)
			}
		}
		info, _ := c.Info(ctx, "commandstats").Result()
		for _, l := range strings.Split(info, "\n") {
			if strings.Contains(l, "evalsha") {
				t.Log(name, l[:60], time.Since(start)/3000)
			}
		}
	}
}
