// Command baseline is the stand-in side of Foyer's benchmarks (see
// bench/README.md): the tiny origin every proxy forwards to, a bare fasthttp
// reverse proxy, a handler answering a fixed JSON body, a handler running the
// queue's join script, and the client helpers run.sh uses to get a ticket or
// an admission token from a running Foyer, or to sign an admission token
// with a key of its own.
//
// Each server subcommand answers until SIGINT or SIGTERM:
//
//	baseline origin  --listen ADDR [--body-size N]
//	baseline proxy   --listen ADDR --upstream ADDR [timeouts]
//	baseline static  --listen ADDR --size N | --file F [--content-type T]
//	baseline join    --listen ADDR --redis ADDR [--event NAME]
//	baseline fetch   --target URL --event NAME --want token|ticket
//	baseline token   --key FILE --event NAME [--visitor V] [--ttl 1h]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "baseline:", err)
		os.Exit(1)
	}
}

const usage = "usage: baseline origin|proxy|static|join|fetch|token [flags] (-h for flags)"

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	cmd, args := args[0], args[1:]
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:0", "listen address (server subcommands)")
	switch cmd {
	case "origin":
		size := fs.Int("body-size", 13, "bytes in the 200 body")
		if err := fs.Parse(args); err != nil {
			return err
		}
		return serve(ctx, *listen, newOrigin(*size))
	case "proxy":
		o := proxyOptions{}
		fs.StringVar(&o.upstream, "upstream", "127.0.0.1:18081", "origin host:port")
		// Defaults are those of Foyer's origin client (proxy.Config).
		fs.DurationVar(&o.readTimeout, "read-timeout", 30*time.Second, "HostClient read timeout")
		fs.DurationVar(&o.writeTimeout, "write-timeout", 30*time.Second, "HostClient write timeout")
		fs.DurationVar(&o.idle, "max-idle-conn-duration", 30*time.Second, "HostClient idle keep-alive")
		fs.DurationVar(&o.connWait, "max-conn-wait", time.Second, "HostClient MaxConnWaitTimeout")
		fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "whole upstream exchange deadline")
		fs.IntVar(&o.maxConns, "max-conns", 1024, "HostClient MaxConns")
		if err := fs.Parse(args); err != nil {
			return err
		}
		return serve(ctx, *listen, newProxy(o))
	case "static":
		size := fs.Int("size", 256, "bytes in the JSON body (at least 8)")
		file := fs.String("file", "", "answer the bytes of this file instead of a JSON body of --size bytes")
		ctype := fs.String("content-type", "application/octet-stream", "Content-Type of the --file body")
		if err := fs.Parse(args); err != nil {
			return err
		}
		var h fasthttp.RequestHandler
		if *file != "" {
			body, err := os.ReadFile(*file)
			if err != nil {
				return fmt.Errorf("static: %w", err)
			}
			h = newStaticBytes(body, *ctype)
		} else {
			var err error
			if h, err = newStatic(*size); err != nil {
				return err
			}
		}
		return serve(ctx, *listen, h)
	case "join":
		o := joinOptions{}
		fs.StringVar(&o.redisAddr, "redis", "127.0.0.1:6379", "Redis address")
		fs.StringVar(&o.event, "event", "bench-bare", "event whose line to join")
		fs.IntVar(&o.poolSize, "pool-size", 0, "go-redis PoolSize (0: go-redis default)")
		fs.DurationVar(&o.timeout, "timeout", 2*time.Second, "per-request deadline and Redis dial/read/write timeouts (Foyer's store.timeout)")
		if err := fs.Parse(args); err != nil {
			return err
		}
		h, closeFn, err := newJoin(ctx, o)
		if err != nil {
			return err
		}
		defer closeFn()
		return serve(ctx, *listen, h)
	case "fetch":
		o := fetchOptions{}
		fs.StringVar(&o.target, "target", "http://127.0.0.1:18080", "Foyer public base URL")
		fs.StringVar(&o.event, "event", "bench", "event name")
		fs.StringVar(&o.want, "want", "token", "what to print: token (poll until admitted) or ticket (require waiting)")
		fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "give up after this long")
		if err := fs.Parse(args); err != nil {
			return err
		}
		out, err := fetch(ctx, o)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(stdout, out)
		return err
	case "token":
		o := tokenOptions{}
		fs.StringVar(&o.keyFile, "key", "", "private signing key (JWK, as written by foyer keys generate --out); required")
		fs.StringVar(&o.event, "event", "bench", "event the token admits to")
		fs.StringVar(&o.visitor, "visitor", "bench-visitor", "visitor id (the token's subject)")
		fs.DurationVar(&o.ttl, "ttl", time.Hour, "token lifetime")
		if err := fs.Parse(args); err != nil {
			return err
		}
		if o.keyFile == "" || fs.NArg() > 0 {
			return errors.New("usage: baseline token --key FILE --event NAME [--visitor V] [--ttl 1h]")
		}
		tok, err := mintToken(o)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(stdout, tok)
		return err
	}
	return fmt.Errorf("unknown subcommand %q; %s", cmd, usage)
}

// serve runs h on addr until ctx is done, then shuts down gracefully. The
// timeouts are the defaults of Foyer's public listener.
func serve(ctx context.Context, addr string, h fasthttp.RequestHandler) error {
	s := &fasthttp.Server{
		Handler:      h,
		Name:         "baseline",
		ReadTimeout:  10 * time.Second,
		WriteTimeout: 30 * time.Second,
		IdleTimeout:  60 * time.Second,
	}
	errc := make(chan error, 1)
	go func() { errc <- s.ListenAndServe(addr) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.ShutdownWithContext(sctx)
}

// newOrigin answers every request with 200 and size bytes, except
// /_bench/count, which reports how many other requests it has answered so
// run.sh can check that a proxy really forwarded what wrk counted.
func newOrigin(size int) fasthttp.RequestHandler {
	body := []byte(strings.Repeat("x", size))
	var served atomic.Uint64
	return func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Path()) == "/_bench/count" {
			ctx.SetContentType("text/plain")
			ctx.SetBody(strconv.AppendUint(nil, served.Load(), 10))
			return
		}
		served.Add(1)
		ctx.SetContentType("text/plain")
		ctx.SetBody(body)
	}
}

// newStatic answers every request with a JSON object of exactly size bytes,
// the stand-in for a status document served from memory.
func newStatic(size int) (fasthttp.RequestHandler, error) {
	const frame = `{"p":""}`
	if size < len(frame) {
		return nil, fmt.Errorf("static: --size %d is below %d", size, len(frame))
	}
	body := []byte(`{"p":"` + strings.Repeat("x", size-len(frame)) + `"}`)
	return func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Header.Set("Cache-Control", "no-store")
		ctx.SetContentType("application/json")
		ctx.SetBody(body)
	}, nil
}

// newStaticBytes answers every request with body as it is, the stand-in for
// a binary document served from memory (a stand's packed seat status).
func newStaticBytes(body []byte, contentType string) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType(contentType)
		ctx.SetBody(body)
	}
}
