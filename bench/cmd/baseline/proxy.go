package main

import (
	"time"

	"github.com/valyala/fasthttp"
)

// proxyOptions configures the bare reverse proxy. The defaults should match
// the upstream client settings of Foyer's proxy so scenario A compares only
// the work Foyer does on top of forwarding.
type proxyOptions struct {
	upstream     string
	readTimeout  time.Duration
	writeTimeout time.Duration
	idle         time.Duration
	timeout      time.Duration
	maxConns     int
	connWait     time.Duration
}

// hopHeaders are the hop-by-hop fields a proxy must not forward
// (RFC 9110 §7.6.1, and the legacy ones net/http/httputil also drops).
var hopHeaders = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// newProxy forwards every request to o.upstream through one pooled
// HostClient and copies the answer back, with no checks of its own.
func newProxy(o proxyOptions) fasthttp.RequestHandler {
	c := &fasthttp.HostClient{
		Addr:                     o.upstream,
		MaxConns:                 o.maxConns,
		ReadTimeout:              o.readTimeout,
		WriteTimeout:             o.writeTimeout,
		MaxIdleConnDuration:      o.idle,
		MaxConnWaitTimeout:       o.connWait,
		NoDefaultUserAgentHeader: true,
		DisablePathNormalizing:   true,
	}
	return func(ctx *fasthttp.RequestCtx) {
		req, resp := &ctx.Request, &ctx.Response
		clientClose := req.Header.ConnectionClose()
		for _, h := range hopHeaders {
			req.Header.Del(h)
		}
		// The request and response belong to ctx and are only used until
		// DoTimeout returns, inside the handler.
		if err := c.DoTimeout(req, resp, o.timeout); err != nil {
			resp.Reset()
			ctx.Error("bad gateway: "+err.Error(), fasthttp.StatusBadGateway)
			return
		}
		for _, h := range hopHeaders {
			resp.Header.Del(h)
		}
		if clientClose {
			ctx.SetConnectionClose()
		}
	}
}
