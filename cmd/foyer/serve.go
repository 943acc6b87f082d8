package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"

	"github.com/foyerhq/foyer/admission"
	"github.com/foyerhq/foyer/proxy"
	"github.com/foyerhq/foyer/queue"
	"github.com/foyerhq/foyer/seating"
)

// runServe runs the edge proxy until ctx ends (SIGTERM or SIGINT), then
// drains: /readyz turns 503, after shutdown.drain_delay the listener closes
// and in-flight requests finish, then it returns.
func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "configuration file (YAML); without it, a demo on embedded defaults")
	listen := fs.String("listen", "", "public listen address (default :8080)")
	adminListen := fs.String("admin-listen", "", "admin listen address (default 127.0.0.1:9090)")
	seatingListen := fs.String("seating-listen", "", "listen address of the demo's seating service (default 127.0.0.1:8081)")
	if err := fs.Parse(args); err != nil {
		return flagError(err)
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("serve: unexpected argument %q", fs.Arg(0))}
	}
	demo := *configPath == ""
	c := demoConfig()
	var lines map[string]int
	if !demo {
		data, err := os.ReadFile(*configPath)
		if err != nil {
			return err
		}
		if c, lines, err = parseConfig(*configPath, data); err != nil {
			return err
		}
	}
	if err := applyEnv(c, getenv); err != nil {
		return err
	}
	overrideListen(c, *listen, *adminListen, *seatingListen)
	c.defaults()
	if demo {
		c.Events[0].Origin = "http://" + dialAddr(c.SeatingListen)
	}
	if err := c.validate(); err != nil {
		if demo {
			return err
		}
		return locate(err, *configPath, lines)
	}
	log := newLogger(c.Log, stderr)

	keys, err := loadKeys(c)
	if err != nil {
		return err
	}
	if keys.ephemeral && !demo {
		log.Warn("no tokens.signing_key configured: admission tokens are signed with a key generated for this process; configure one for several proxies or restarts")
	}
	tokens, err := admission.NewTokens(c.admissionConfig(), keys.set)
	if err != nil {
		return err
	}
	tickets, ephemeralTickets, err := loadTicketSigner(c)
	if err != nil {
		return err
	}
	if ephemeralTickets && !demo {
		log.Warn("no store.ticket_secret configured: queue tickets are signed with a secret generated for this process and die with it")
	}
	store, err := openStore(c)
	if err != nil {
		return err
	}
	defer store.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	var lc net.ListenConfig
	var seatingLn net.Listener
	if demo {
		// The demo's origin is the seating service's listener: open it
		// first, so the origin is its real address (port 0 included).
		if seatingLn, err = lc.Listen(ctx, "tcp", c.SeatingListen); err != nil {
			return fmt.Errorf("seating_listen (demo seating service): %w", err)
		}
		defer seatingLn.Close()
		c.Events[0].Origin = "http://" + dialAddr(seatingLn.Addr().String())
	}
	pc, err := c.proxyConfig()
	if err != nil {
		return err
	}
	if err := loadEventFiles(c, &pc); err != nil {
		return err
	}
	p, err := proxy.New(pc, proxy.Deps{
		Store: store, Tickets: tickets, Tokens: tokens, JWKS: keys.set.JWKS(),
		Registerer: reg, Logger: log,
	})
	if err != nil {
		return err
	}
	adminToken := c.AdminToken
	generatedToken := adminToken == ""
	if generatedToken {
		adminToken = randomToken()
	}

	pub, err := lc.Listen(ctx, "tcp", c.Listen)
	if err != nil {
		return fmt.Errorf("listen (public): %w", err)
	}
	adm, err := lc.Listen(ctx, "tcp", c.AdminListen)
	if err != nil {
		pub.Close()
		return fmt.Errorf("admin_listen: %w", err)
	}
	runCtx, stopRun := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRun()
	errc := make(chan error, 3)
	var origin *seating.Server
	if demo {
		// The demo's origin is the seating service itself, on the memory
		// store with a 10,000-seat venue, verifying the proxy's tokens.
		origin, err = newDemoSeating(ctx, keys.set, reg, log)
		if err != nil {
			pub.Close()
			adm.Close()
			return err
		}
		go func() { errc <- origin.Serve(seatingLn) }()
	}
	if demo {
		joinCrowd(ctx, store, c.Events[0].Name, demoCrowd)
	}
	go p.Run(runCtx)
	go func() { errc <- p.Serve(pub) }()
	adminSrv := &http.Server{
		Handler:           p.AdminHandler(adminToken, reg),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
	go func() { errc <- adminSrv.Serve(adm) }()

	fmt.Fprintf(stdout, "foyer %s serving\n", version)
	fmt.Fprintf(stdout, "  fan URL:     http://%s/\n", browseAddr(pub.Addr()))
	fmt.Fprintf(stdout, "  admin URL:   http://%s/admin/   (the SRE console; it asks for the admin token)\n", browseAddr(adm.Addr()))
	if generatedToken {
		fmt.Fprintf(stdout, "  admin token: %s   (generated; set admin_token or FOYER_ADMIN_TOKEN to keep one)\n", adminToken)
	} else {
		fmt.Fprintf(stdout, "  admin token: from configuration\n")
	}
	fmt.Fprintf(stdout, "  metrics:     curl -H 'Authorization: Bearer <admin token>' http://%s/metrics\n", browseAddr(adm.Addr()))
	if demo {
		fmt.Fprintf(stdout, "  demo:        event %q covers every path; %d simulated fans are in line ahead of you, admitted at %g per second\n",
			c.Events[0].Name, demoCrowd, c.Events[0].RatePerSecond)
	}

	select {
	case <-ctx.Done():
	case err := <-errc:
		stopRun()
		return fmt.Errorf("server stopped: %w", err)
	}
	log.Info("shutting down: draining", "drain_delay", time.Duration(*c.Shutdown.DrainDelay).String())
	p.Drain()
	select {
	case <-time.After(time.Duration(*c.Shutdown.DrainDelay)):
	case err := <-errc:
		return fmt.Errorf("server stopped while draining: %w", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), time.Duration(c.Shutdown.Timeout))
	defer cancel()
	var errs []error
	if err := p.Shutdown(sctx); err != nil {
		errs = append(errs, fmt.Errorf("public listener: %w", err))
	}
	if err := adminSrv.Shutdown(sctx); err != nil {
		errs = append(errs, fmt.Errorf("admin listener: %w", err))
	}
	if origin != nil {
		_ = origin.Shutdown(sctx)
	}
	stopRun()
	log.Info("stopped")
	return errors.Join(errs...)
}

func overrideListen(c *fileConfig, listen, admin, seating string) {
	if listen != "" {
		c.Listen = listen
	}
	if admin != "" {
		c.AdminListen = admin
	}
	if seating != "" {
		c.SeatingListen = seating
	}
}

// dialAddr turns a listen address into one to connect to: ":8081" listens
// everywhere and is reached at 127.0.0.1:8081.
func dialAddr(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil || host == "" || host == "0.0.0.0" || host == "::" {
		return net.JoinHostPort("127.0.0.1", port)
	}
	return listen
}

// browseAddr is the address to print for a listener.
func browseAddr(a net.Addr) string {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return a.String()
	}
	if ta.IP.IsUnspecified() {
		return fmt.Sprintf("localhost:%d", ta.Port)
	}
	return ta.String()
}

func newLogger(c logConf, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func randomToken() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// keySet is the admission key set and whether it was generated for this
// process only.
type keySet struct {
	set       *admission.KeySet
	ephemeral bool
}

// loadKeys reads the signing key and the verification keys named by the
// configuration, or generates a signing key when none is named.
func loadKeys(c *fileConfig) (keySet, error) {
	var signing admission.Key
	ephemeral := c.Tokens.SigningKey == ""
	if ephemeral {
		k, err := admission.GenerateKey(rand.Reader)
		if err != nil {
			return keySet{}, err
		}
		signing = k
	} else {
		data, err := os.ReadFile(c.Tokens.SigningKey)
		if err != nil {
			return keySet{}, &configError{Field: "tokens.signing_key", Msg: err.Error()}
		}
		k, err := admission.ParseJWK(data)
		if err != nil {
			return keySet{}, &configError{Field: "tokens.signing_key", Msg: fmt.Sprintf("%s: %v", c.Tokens.SigningKey, err)}
		}
		if k.Private == nil {
			return keySet{}, &configError{Field: "tokens.signing_key", Msg: c.Tokens.SigningKey + " holds a public key; a private JWK (with \"d\") is required"}
		}
		signing = k
	}
	verify, err := loadVerifyKeys(c)
	if err != nil {
		return keySet{}, err
	}
	set, err := admission.NewKeySet(signing, verify...)
	if err != nil {
		return keySet{}, &configError{Field: "tokens", Msg: err.Error()}
	}
	return keySet{set: set, ephemeral: ephemeral}, nil
}

// loadVerifyKeys reads tokens.verify_keys: each file a JWK or a JWKS, kept
// as public keys only.
func loadVerifyKeys(c *fileConfig) ([]admission.Key, error) {
	var verify []admission.Key
	for i, path := range c.Tokens.VerifyKeys {
		field := fmt.Sprintf("tokens.verify_keys[%d]", i)
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, &configError{Field: field, Msg: err.Error()}
		}
		keys, err := admission.ParseJWKS(data)
		if err != nil {
			k, err2 := admission.ParseJWK(data)
			if err2 != nil {
				return nil, &configError{Field: field, Msg: fmt.Sprintf("%s is neither a JWK nor a JWKS: %v", path, err2)}
			}
			keys = []admission.Key{k}
		}
		for _, k := range keys {
			k.Private = nil
			verify = append(verify, k)
		}
	}
	return verify, nil
}

// loadTicketSigner builds the queue ticket signer from the configured
// secrets, or a random secret when none is configured.
func loadTicketSigner(c *fileConfig) (*queue.TicketSigner, bool, error) {
	secret := []byte(c.Store.TicketSecret)
	if c.Store.TicketSecretFile != "" {
		data, err := os.ReadFile(c.Store.TicketSecretFile)
		if err != nil {
			return nil, false, &configError{Field: "store.ticket_secret_file", Msg: err.Error()}
		}
		secret = []byte(strings.TrimSpace(string(data)))
		if len(secret) < 32 {
			return nil, false, &configError{Field: "store.ticket_secret_file", Msg: fmt.Sprintf("the secret must be at least 32 bytes, got %d", len(secret))}
		}
	}
	ephemeral := len(secret) == 0
	if ephemeral {
		secret = make([]byte, 32)
		_, _ = rand.Read(secret)
	}
	var previous []queue.TicketKey
	for _, s := range c.Store.PreviousTicketSecrets {
		previous = append(previous, ticketKey([]byte(s)))
	}
	s, err := queue.NewTicketSigner(ticketKey(secret), previous...)
	if err != nil {
		return nil, false, &configError{Field: "store.ticket_secret", Msg: err.Error()}
	}
	return s, ephemeral, nil
}

// ticketKey names a secret by a hash of it, so proxies that share a secret
// agree on its id without configuring one.
func ticketKey(secret []byte) queue.TicketKey {
	sum := sha256.Sum256(append([]byte("foyer ticket key id\x00"), secret...))
	return queue.TicketKey{ID: base64.RawURLEncoding.EncodeToString(sum[:6]), Secret: secret}
}

// openStore opens the configured queue store.
func openStore(c *fileConfig) (queue.Store, error) {
	if c.Store.Kind == "memory" {
		return queue.NewMemory(nil), nil
	}
	client := redisClient(c)
	return queue.NewRedis(client, queue.RedisOptions{Prefix: c.Store.Redis.KeyPrefix}), nil
}

// redisClient connects to the configured Redis: one server, Sentinel or
// Cluster, with the store's timeout on every call.
func redisClient(c *fileConfig) redis.UniversalClient {
	r := c.Store.Redis
	timeout := time.Duration(c.Store.Timeout)
	if timeout == 0 {
		timeout = 2 * time.Second
	}
	return redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs:         r.Addrs,
		MasterName:    r.MasterName,
		IsClusterMode: r.Cluster,
		Username:      r.Username,
		Password:      r.Password,
		DB:            r.DB,
		PoolSize:      r.PoolSize,
		DialTimeout:   timeout,
		ReadTimeout:   timeout,
		WriteTimeout:  timeout,
	})
}
