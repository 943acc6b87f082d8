package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/valyala/fasthttp"

	"github.com/foyerhq/foyer/queue"
)

type joinOptions struct {
	redisAddr string
	event     string
	poolSize  int
	timeout   time.Duration
}

// newJoin returns a handler that runs the queue's join script once per
// request for a new visitor: the store round trip a Foyer join cannot avoid,
// without Foyer's routing, ticket signing or status document.
func newJoin(ctx context.Context, o joinOptions) (fasthttp.RequestHandler, func(), error) {
	// Timeouts as Foyer's store client: each one the store timeout.
	client := redis.NewClient(&redis.Options{
		Addr:         o.redisAddr,
		PoolSize:     o.poolSize,
		DialTimeout:  o.timeout,
		ReadTimeout:  o.timeout,
		WriteTimeout: o.timeout,
	})
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := client.Ping(pctx).Err(); err != nil {
		client.Close()
		return nil, nil, fmt.Errorf("join: redis %s: %w", o.redisAddr, err)
	}
	store := queue.NewRedis(client, queue.RedisOptions{}) // owns client from here on
	h := func(ctx *fasthttp.RequestCtx) {
		// RequestCtx.Done fires only at shutdown: each request gets its own deadline.
		rctx, cancel := context.WithTimeout(context.Background(), o.timeout)
		e, err := store.Join(rctx, o.event, queue.NewVisitorID(), queue.Seed{})
		cancel()
		if err != nil {
			ctx.Error(err.Error(), fasthttp.StatusServiceUnavailable)
			return
		}
		b := make([]byte, 0, 64)
		b = append(b, `{"seq":`...)
		b = strconv.AppendUint(b, e.Seq, 10)
		b = append(b, `,"epoch":`...)
		b = strconv.AppendUint(b, e.State.Epoch, 10)
		b = append(b, '}')
		ctx.SetContentType("application/json")
		ctx.SetBody(b)
	}
	return h, func() { store.Close() }, nil
}
