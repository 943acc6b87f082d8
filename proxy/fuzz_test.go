package proxy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/foyerhq/foyer/queue"
)

// FuzzHandler sends arbitrary requests (whatever fasthttp's parser accepts)
// through the whole public handler: bad input must never yield a 5xx or a
// panic, and every error must be the JSON error body.
func FuzzHandler(f *testing.F) {
	h := newHotProxy(f, queue.NewMemory(nil), 5)
	ticket := h.waitingTicket(f)
	for _, seed := range []string{
		"GET / HTTP/1.1\r\nHost: x\r\nAccept: text/html\r\n\r\n",
		"POST /_foyer/v1/events/show/join HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /_foyer/v1/events/show/status HTTP/1.1\r\nHost: x\r\nCookie: " + ticket + "\r\n\r\n",
		"GET /_foyer/v1/events/show/status?return_to=//evil HTTP/1.1\r\nHost: x\r\nFoyer-Ticket: v1.t1.x.y\r\n\r\n",
		"GET /x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer eyJhbGciOiJub25lIn0.e30.\r\nConnection: a, b, ,c\r\n\r\n",
		"GET /_foyer/.well-known/jwks.json HTTP/1.0\r\n\r\n",
		"DELETE /_foyer/v1/events/show/ HTTP/1.1\r\nHost: x\r\nFoyer-Visitor: abcdefghijklmnopqrstuvwxyz\r\n\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var ctx fasthttp.RequestCtx
		if err := ctx.Request.Read(bufio.NewReader(bytes.NewReader(raw))); err != nil {
			return // fasthttp answers unparsable requests itself (serverError)
		}
		// An admitted request would be forwarded; keep this about input.
		ctx.Request.Header.Del("Authorization")
		h.p.Handler(&ctx)
		status := ctx.Response.StatusCode()
		if status >= 500 && status != fasthttp.StatusServiceUnavailable {
			t.Fatalf("status %d for %q: %s", status, raw, ctx.Response.Body())
		}
		if status >= 400 {
			var body struct {
				Error struct{ Code, Message string }
			}
			if err := json.Unmarshal(ctx.Response.Body(), &body); err != nil || body.Error.Code == "" || body.Error.Message == "" {
				t.Fatalf("status %d without a JSON error body for %q: %s", status, raw, ctx.Response.Body())
			}
		}
	})
}
