package main

import (
	"context"
	"fmt"
	"html"
	"net"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/foyerhq/foyer/queue"
)

// demoCrowd is how many simulated fans the demo puts in line before the
// first real one, so that the queue page has something to show.
const demoCrowd = 10

// demoConfig is the configuration of foyer serve without --config: the memory
// store, one event named demo covering every path, and a small built-in
// origin standing in for the ticketing site.
func demoConfig() *fileConfig {
	return &fileConfig{
		Shutdown: shutdownConf{DrainDelay: new(duration)}, // no load balancer to drain
		Events: []eventConf{{
			Name:          "demo",
			Title:         "Foyer demo on-sale",
			PathPrefix:    "/",
			RatePerSecond: 1,
		}},
	}
}

// joinCrowd puts n simulated fans in the demo line.
func joinCrowd(ctx context.Context, store queue.Store, event string, n int) {
	for i := range n {
		_, _ = store.Join(ctx, event, fmt.Sprintf("demo-crowd-%04d", i), queue.Seed{Control: queue.Control{RatePerSecond: 1}})
	}
}

// demoOrigin is the built-in origin of the demo: the page an admitted fan
// reaches, showing what the origin learns from Foyer.
type demoOrigin struct{ srv *fasthttp.Server }

func newDemoOrigin() *demoOrigin {
	o := &demoOrigin{}
	o.srv = &fasthttp.Server{
		Handler:      o.handle,
		Name:         "foyer-demo-origin",
		ReadTimeout:  10 * time.Second,
		WriteTimeout: 10 * time.Second,
		IdleTimeout:  60 * time.Second,
	}
	return o
}

func (o *demoOrigin) serve(ln net.Listener) error { return o.srv.Serve(ln) }

func (o *demoOrigin) shutdown(ctx context.Context) error { return o.srv.ShutdownWithContext(ctx) }

func (o *demoOrigin) handle(ctx *fasthttp.RequestCtx) {
	visitor := string(ctx.Request.Header.Peek("Foyer-Visitor"))
	event := string(ctx.Request.Header.Peek("Foyer-Event"))
	ctx.SetContentType("text/html; charset=utf-8")
	ctx.Response.Header.Set("Cache-Control", "no-store")
	fmt.Fprintf(ctx, `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>You're through — Foyer demo</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1.25rem}code{background:rgba(127,127,127,.15);padding:.1rem .3rem;border-radius:4px}</style>
</head><body>
<h1>You're through</h1>
<p>This page comes from the demo origin. Foyer let you in: your admission token is valid for this event, and the origin received your request with</p>
<ul><li>event <code>%s</code></li><li>visitor id <code>%s</code></li><li>path <code>%s</code></li></ul>
<p>In production this is the ticketing site. Fans without a valid admission token never reach it.</p>
</body></html>
`, html.EscapeString(event), html.EscapeString(visitor), html.EscapeString(string(ctx.Path())))
}
