package seating

import (
	_ "embed"
	"html/template"

	"github.com/valyala/fasthttp"
)

//go:embed demo.html
var demoSource string

// demoTemplate is the seat picker of the demo: an admitted fan picks seats
// in a stand, holds and confirms them through the public API.
var demoTemplate = template.Must(template.New("demo").Parse(demoSource))

// serveDemoPage answers the demo's seat picker for the first event.
func (s *Server) serveDemoPage(ctx *fasthttp.RequestCtx) {
	rt := s.order[0]
	ctx.Response.Header.SetContentType("text/html; charset=utf-8")
	ctx.Response.Header.Set(fasthttp.HeaderCacheControl, "no-store")
	ctx.Response.Header.Set("X-Content-Type-Options", "nosniff")
	data := struct {
		Event, Visitor string
		MaxSeats       int
	}{rt.name, string(ctx.Request.Header.Peek("Foyer-Visitor")), s.cfg.MaxSeatsPerVisitor}
	if err := demoTemplate.Execute(ctx, data); err != nil {
		s.log.Error("rendering the demo page", "err", err)
	}
}
