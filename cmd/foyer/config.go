package main

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/foyerhq/foyer/admission"
	"github.com/foyerhq/foyer/proxy"
)

// fileConfig is the YAML configuration file of foyer serve and foyer seating. Every field is
// documented in docs/configuration.md; a test keeps the two in step.
type fileConfig struct {
	Listen          string       `yaml:"listen"`
	AdminListen     string       `yaml:"admin_listen"`
	SeatingListen   string       `yaml:"seating_listen"`
	AdminToken      string       `yaml:"admin_token"`
	SecureCookies   bool         `yaml:"secure_cookies"`
	TrustedProxies  []string     `yaml:"trusted_proxies"`
	RefreshInterval duration     `yaml:"refresh_interval"`
	Shutdown        shutdownConf `yaml:"shutdown"`
	Store           storeConf    `yaml:"store"`
	Tokens          tokensConf   `yaml:"tokens"`
	Limits          limitsConf   `yaml:"limits"`
	Events          []eventConf  `yaml:"events"`
	Seating         seatingConf  `yaml:"seating"`
	Log             logConf      `yaml:"log"`
}

// seatingConf configures the seat-lock service of foyer seating.
type seatingConf struct {
	HoldTTL            duration           `yaml:"hold_ttl"`
	MaxHoldTotal       duration           `yaml:"max_hold_total"`
	MaxSeatsPerVisitor int                `yaml:"max_seats_per_visitor"`
	MaxInflightHolds   int                `yaml:"max_inflight_holds"`
	CacheInterval      duration           `yaml:"cache_interval"`
	Events             []seatingEventConf `yaml:"events"`
}

type seatingEventConf struct {
	Name      string `yaml:"name"`
	VenueFile string `yaml:"venue_file"`
}

type shutdownConf struct {
	DrainDelay *duration `yaml:"drain_delay"` // nil: the default; 0 is no delay
	Timeout    duration  `yaml:"timeout"`
}

type storeConf struct {
	Kind                  string    `yaml:"kind"`
	Timeout               duration  `yaml:"timeout"`
	Redis                 redisConf `yaml:"redis"`
	TicketSecret          string    `yaml:"ticket_secret"`
	TicketSecretFile      string    `yaml:"ticket_secret_file"`
	PreviousTicketSecrets []string  `yaml:"previous_ticket_secrets"`
}

type redisConf struct {
	Addrs      []string `yaml:"addrs"`
	MasterName string   `yaml:"master_name"`
	Cluster    bool     `yaml:"cluster"`
	Username   string   `yaml:"username"`
	Password   string   `yaml:"password"`
	DB         int      `yaml:"db"`
	KeyPrefix  string   `yaml:"key_prefix"`
	PoolSize   int      `yaml:"pool_size"`
}

type tokensConf struct {
	SigningKey string   `yaml:"signing_key"`
	VerifyKeys []string `yaml:"verify_keys"`
	Issuer     string   `yaml:"issuer"`
	Audience   string   `yaml:"audience"`
	Leeway     duration `yaml:"leeway"`
	CacheSize  int      `yaml:"cache_size"`
}

type limitsConf struct {
	ReadTimeout    duration `yaml:"read_timeout"`
	WriteTimeout   duration `yaml:"write_timeout"`
	IdleTimeout    duration `yaml:"idle_timeout"`
	MaxHeaderBytes int      `yaml:"max_header_bytes"`
	MaxBodyBytes   int      `yaml:"max_body_bytes"`
	MaxConnsPerIP  int      `yaml:"max_conns_per_ip"`
	OriginTimeout  duration `yaml:"origin_timeout"`
	OriginMaxConns int      `yaml:"origin_max_conns"`
	MaxStreams     int      `yaml:"max_streams"`
	StreamInterval duration `yaml:"stream_interval"`
}

type eventConf struct {
	Name            string       `yaml:"name"`
	Title           string       `yaml:"title"`
	Hosts           []string     `yaml:"hosts"`
	PathPrefix      string       `yaml:"path_prefix"`
	Origin          string       `yaml:"origin"`
	RatePerSecond   float64      `yaml:"rate_per_second"`
	Paused          bool         `yaml:"paused"`
	SessionDuration duration     `yaml:"session_duration"`
	SessionMax      duration     `yaml:"session_max"`
	SessionRenewal  *bool        `yaml:"session_renewal"`
	MaxActive       int          `yaml:"max_active"`
	ClaimWindow     duration     `yaml:"claim_window"`
	PrequeueOpensAt time.Time    `yaml:"prequeue_opens_at"`
	PrequeueCloses  duration     `yaml:"prequeue_closes_before"`
	SaleStartsAt    time.Time    `yaml:"sale_starts_at"`
	SaleEndsAt      time.Time    `yaml:"sale_ends_at"`
	Lanes           []laneConf   `yaml:"lanes"`
	Page            pageConf     `yaml:"page"`
	Adaptive        adaptiveConf `yaml:"adaptive"`
}

// pageConf is an event's branding (proxy.PageConfig); docs/branding.md
// documents it. The template file is read by loadEventFiles.
type pageConf struct {
	Template        string                       `yaml:"template"`
	LogoURL         string                       `yaml:"logo_url"`
	PrimaryColor    string                       `yaml:"primary_color"`
	BackgroundColor string                       `yaml:"background_color"`
	Text            map[string]map[string]string `yaml:"text"`
}

// laneConf is one weighted lane of an event (proxy.Lane). Its invite codes
// and enqueue secret are read from files, so that secrets stay out of the
// configuration.
type laneConf struct {
	Name              string `yaml:"name"`
	Weight            int    `yaml:"weight"`
	InviteCodesFile   string `yaml:"invite_codes_file"`
	EnqueueSecretFile string `yaml:"enqueue_secret_file"`
}

// proxyLanes returns the lanes of an event as proxy.Lanes, without reading
// their files: a lane with an invite codes file gets one placeholder code,
// a lane with an enqueue secret file a placeholder secret, so that the
// configuration validates on its own; loadLanes reads the files.
func proxyLanes(lanes []laneConf) []proxy.Lane {
	var out []proxy.Lane
	for _, l := range lanes {
		pl := proxy.Lane{Name: l.Name, Weight: l.Weight}
		if l.InviteCodesFile != "" {
			pl.InviteCodes = []string{"file:" + l.Name}
		}
		if l.EnqueueSecretFile != "" {
			pl.EnqueueSecret = bytes.Repeat([]byte{'x'}, 32)
		}
		out = append(out, pl)
	}
	return out
}

// loadEventFiles reads the files events name — the page template, the
// invite codes and enqueue secrets of lanes — into pc (built by
// c.proxyConfig) and validates the result.
func loadEventFiles(c *fileConfig, pc *proxy.Config) error {
	for i, e := range c.Events {
		if e.Page.Template != "" {
			data, err := os.ReadFile(e.Page.Template)
			if err != nil {
				return &configError{Field: fmt.Sprintf("events[%d].page.template", i), Msg: err.Error()}
			}
			pc.Events[i].Page.Template = string(data)
		}
		for j, l := range e.Lanes {
			pl := &pc.Events[i].Lanes[j]
			f := fmt.Sprintf("events[%d].lanes[%d].", i, j)
			if l.InviteCodesFile != "" {
				data, err := os.ReadFile(l.InviteCodesFile)
				if err != nil {
					return &configError{Field: f + "invite_codes_file", Msg: err.Error()}
				}
				pl.InviteCodes = nil
				for line := range strings.Lines(string(data)) {
					if code := strings.TrimSpace(line); code != "" && !strings.HasPrefix(code, "#") {
						pl.InviteCodes = append(pl.InviteCodes, code)
					}
				}
				if len(pl.InviteCodes) == 0 {
					return &configError{Field: f + "invite_codes_file", Msg: l.InviteCodesFile + " holds no code"}
				}
			}
			if l.EnqueueSecretFile != "" {
				data, err := os.ReadFile(l.EnqueueSecretFile)
				if err != nil {
					return &configError{Field: f + "enqueue_secret_file", Msg: err.Error()}
				}
				pl.EnqueueSecret = bytes.TrimSpace(data)
			}
		}
	}
	return pc.Defaults().Validate()
}

// adaptiveConf is an event's adaptive admission controller
// (proxy.AdaptiveConfig). It is on when any field is set; max_rate and
// health_url are then required.
type adaptiveConf struct {
	MinRate                float64  `yaml:"min_rate"`
	MaxRate                float64  `yaml:"max_rate"`
	HealthURL              string   `yaml:"health_url"`
	Interval               duration `yaml:"interval"`
	HealthTimeout          duration `yaml:"health_timeout"`
	HoldLatencyObjective   duration `yaml:"hold_latency_objective"`
	OriginLatencyObjective duration `yaml:"origin_latency_objective"`
	ErrorObjective         float64  `yaml:"error_objective"`
	Increase               float64  `yaml:"increase"`
	Decrease               float64  `yaml:"decrease"`
	Cooldown               duration `yaml:"cooldown"`
	InventoryFactor        float64  `yaml:"inventory_factor"`
	InventoryHorizon       duration `yaml:"inventory_horizon"`
	SoldOutAfter           duration `yaml:"sold_out_after"`
}

// proxyConfig returns the proxy's configuration of a, nil when a is not set.
func (a adaptiveConf) proxyConfig() *proxy.AdaptiveConfig {
	if a == (adaptiveConf{}) {
		return nil
	}
	return &proxy.AdaptiveConfig{
		MinRate: a.MinRate, MaxRate: a.MaxRate, HealthURL: a.HealthURL,
		Interval:               time.Duration(a.Interval),
		HealthTimeout:          time.Duration(a.HealthTimeout),
		HoldLatencyObjective:   time.Duration(a.HoldLatencyObjective),
		OriginLatencyObjective: time.Duration(a.OriginLatencyObjective),
		ErrorObjective:         a.ErrorObjective,
		Increase:               a.Increase,
		Decrease:               a.Decrease,
		Cooldown:               time.Duration(a.Cooldown),
		InventoryFactor:        a.InventoryFactor,
		InventoryHorizon:       time.Duration(a.InventoryHorizon),
		SoldOutAfter:           time.Duration(a.SoldOutAfter),
	}
}

type logConf struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

// duration is a time.Duration written as "250ms", "15m" in YAML.
type duration time.Duration

func (d *duration) UnmarshalYAML(n *yaml.Node) error {
	// yaml.v3 passes an unmarshaler's error through as it is: name the line.
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: a duration like 250ms or 15m is required", n.Line)
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration like 250ms or 15m", n.Line, n.Value)
	}
	*d = duration(v)
	return nil
}

// configError is an error in a configuration file, naming the field and,
// when known, the line.
type configError struct {
	File  string
	Line  int
	Field string
	Msg   string
}

func (e *configError) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc += ":" + strconv.Itoa(e.Line)
	}
	if e.Field == "" {
		return loc + ": " + e.Msg
	}
	return loc + ": " + e.Field + ": " + e.Msg
}

// parseConfig decodes a configuration file. Unknown fields are errors:
// a misspelt field would otherwise be silently ignored during an on-sale.
func parseConfig(name string, data []byte) (*fileConfig, map[string]int, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, nil, yamlError(name, err, nil)
	}
	lines := map[string]int{}
	if len(root.Content) == 0 {
		return nil, nil, &configError{File: name, Msg: "the file is empty"}
	}
	if err := checkFields(name, root.Content[0], reflect.TypeOf(fileConfig{}), "", lines); err != nil {
		return nil, nil, err
	}
	var c fileConfig
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, nil, yamlError(name, err, lines)
	}
	return &c, lines, nil
}

// checkFields walks a YAML mapping against the struct type t, rejecting
// unknown keys by their path and recording the line of every path.
func checkFields(file string, n *yaml.Node, t reflect.Type, path string, lines map[string]int) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t.Kind() == reflect.Struct && t != reflect.TypeOf(duration(0)) && t != reflect.TypeOf(time.Time{}):
		if n.Kind != yaml.MappingNode {
			if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
				return nil
			}
			return &configError{File: file, Line: n.Line, Field: strings.TrimPrefix(path, "."), Msg: "must be a mapping of fields"}
		}
		fields := map[string]reflect.Type{}
		for i := 0; i < t.NumField(); i++ {
			tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
			fields[tag] = t.Field(i).Type
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := strings.TrimPrefix(path+"."+k.Value, ".")
			ft, ok := fields[k.Value]
			if !ok {
				return &configError{File: file, Line: k.Line, Field: p, Msg: "unknown field" + suggest(k.Value, fields)}
			}
			lines[p] = k.Line
			if err := checkFields(file, v, ft, p, lines); err != nil {
				return err
			}
		}
	case t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode:
		for i, item := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			lines[strings.TrimPrefix(p, ".")] = item.Line
			if err := checkFields(file, item, t.Elem(), p, lines); err != nil {
				return err
			}
		}
	}
	return nil
}

// suggest names the known field closest to an unknown one.
func suggest(name string, fields map[string]reflect.Type) string {
	best, bestD := "", 3
	for f := range fields {
		if d := editDistance(name, f); d < bestD || (d == bestD && f < best) {
			best, bestD = f, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

var yamlLineRE = regexp.MustCompile(`line (\d+): (.*)`)

// yamlError turns a yaml.v3 error into configErrors that name the field at
// the reported line.
func yamlError(file string, err error, lines map[string]int) error {
	var te *yaml.TypeError
	msgs := []string{err.Error()}
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	var out []error
	for _, m := range msgs {
		sub := yamlLineRE.FindStringSubmatch(m)
		if sub == nil {
			out = append(out, &configError{File: file, Msg: strings.TrimPrefix(m, "yaml: ")})
			continue
		}
		line, _ := strconv.Atoi(sub[1])
		out = append(out, &configError{File: file, Line: line, Field: fieldAt(lines, line), Msg: sub[2]})
	}
	return errors.Join(out...)
}

// fieldAt returns the deepest path recorded at line.
func fieldAt(lines map[string]int, line int) string {
	var paths []string
	for p, l := range lines {
		if l == line {
			paths = append(paths, p)
		}
	}
	sort.Slice(paths, func(i, j int) bool { return len(paths[i]) > len(paths[j]) })
	if len(paths) == 0 {
		return ""
	}
	return paths[0]
}

// applyEnv overrides fields of c from FOYER_* environment variables.
func applyEnv(c *fileConfig, getenv func(string) string) error {
	set := func(dst *string, name string) {
		if v := getenv(name); v != "" {
			*dst = v
		}
	}
	set(&c.Listen, "FOYER_LISTEN")
	set(&c.AdminListen, "FOYER_ADMIN_LISTEN")
	set(&c.SeatingListen, "FOYER_SEATING_LISTEN")
	set(&c.AdminToken, "FOYER_ADMIN_TOKEN")
	set(&c.Store.Kind, "FOYER_STORE")
	if v := getenv("FOYER_TICKET_SECRET"); v != "" {
		c.Store.TicketSecret = v
		c.Store.TicketSecretFile = "" // the environment overrides the file
	}
	set(&c.Store.Redis.Password, "FOYER_REDIS_PASSWORD")
	if v := getenv("FOYER_REDIS_ADDRS"); v != "" {
		c.Store.Redis.Addrs = strings.Split(v, ",")
	}
	if v := getenv("FOYER_SECURE_COOKIES"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("FOYER_SECURE_COOKIES: %q is not true or false", v)
		}
		c.SecureCookies = b
	}
	return nil
}

// defaults fills the fields that have defaults outside the proxy package.
func (c *fileConfig) defaults() {
	if c.Listen == "" {
		c.Listen = ":8080"
	}
	if c.AdminListen == "" {
		c.AdminListen = "127.0.0.1:9090"
	}
	if c.SeatingListen == "" {
		c.SeatingListen = "127.0.0.1:8081"
	}
	if c.Store.Kind == "" {
		c.Store.Kind = "memory"
	}
	if c.Shutdown.DrainDelay == nil {
		d := duration(5 * time.Second)
		c.Shutdown.DrainDelay = &d
	}
	if c.Shutdown.Timeout == 0 {
		c.Shutdown.Timeout = duration(30 * time.Second)
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Log.Format == "" {
		c.Log.Format = "text"
	}
}

// validate checks what the components do not check themselves.
func (c *fileConfig) validate() error {
	fe := func(field, format string, args ...any) error {
		return &configError{Field: field, Msg: fmt.Sprintf(format, args...)}
	}
	for _, l := range []struct{ field, v string }{{"listen", c.Listen}, {"admin_listen", c.AdminListen}, {"seating_listen", c.SeatingListen}} {
		if !strings.Contains(l.v, ":") {
			return fe(l.field, "%q must be host:port or :port", l.v)
		}
	}
	switch c.Store.Kind {
	case "memory":
	case "redis":
		if len(c.Store.Redis.Addrs) == 0 {
			return fe("store.redis.addrs", "at least one address is required when store.kind is redis")
		}
		r := c.Store.Redis
		if r.Cluster && r.MasterName != "" {
			return fe("store.redis.cluster", "cluster and master_name (Sentinel) exclude each other")
		}
		if len(r.Addrs) > 1 && !r.Cluster && r.MasterName == "" {
			return fe("store.redis.addrs", "several addresses need cluster: true (Redis Cluster) or master_name (Sentinel)")
		}
		if r.Cluster && r.DB != 0 {
			return fe("store.redis.db", "Redis Cluster has only database 0")
		}
		if strings.ContainsAny(r.KeyPrefix, "{} ") {
			return fe("store.redis.key_prefix", "%q must not contain braces or spaces: braces would change the hash tag that keeps an event's keys in one slot", r.KeyPrefix)
		}
		if r.PoolSize < 0 {
			return fe("store.redis.pool_size", "must not be negative, got %d", r.PoolSize)
		}
		if r.DB < 0 {
			return fe("store.redis.db", "must not be negative, got %d", r.DB)
		}
	default:
		return fe("store.kind", "%q is not memory or redis", c.Store.Kind)
	}
	if c.Store.TicketSecret != "" && c.Store.TicketSecretFile != "" {
		return fe("store.ticket_secret_file", "set ticket_secret or ticket_secret_file, not both")
	}
	if s := c.Store.TicketSecret; s != "" && len(s) < 32 {
		return fe("store.ticket_secret", "must be at least 32 bytes, got %d", len(s))
	}
	for i, s := range c.Store.PreviousTicketSecrets {
		if len(s) < 32 {
			return fe(fmt.Sprintf("store.previous_ticket_secrets[%d]", i), "must be at least 32 bytes, got %d", len(s))
		}
	}
	if c.Store.Kind == "redis" && c.Store.TicketSecret == "" && c.Store.TicketSecretFile == "" {
		return fe("store.ticket_secret", "is required with a redis store: every proxy sharing the store must sign tickets with the same secret")
	}
	for i, p := range c.TrustedProxies {
		if _, err := parsePrefix(p); err != nil {
			return fe(fmt.Sprintf("trusted_proxies[%d]", i), "%q is not an address or CIDR prefix", p)
		}
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return fe("log.level", "%q is not debug, info, warn or error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		return fe("log.format", "%q is not text or json", c.Log.Format)
	}
	if *c.Shutdown.DrainDelay < 0 || c.Shutdown.Timeout < 0 {
		return fe("shutdown", "durations must not be negative")
	}
	tc := c.admissionConfig()
	if err := tc.Validate(); err != nil {
		return fe("tokens", "%v", err)
	}
	pc, err := c.proxyConfig()
	if err != nil {
		return err
	}
	return pc.Defaults().Validate()
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		return netip.ParsePrefix(s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func (c *fileConfig) admissionConfig() admission.Config {
	return admission.Config{
		Issuer:    c.Tokens.Issuer,
		Audience:  c.Tokens.Audience,
		Leeway:    time.Duration(c.Tokens.Leeway),
		CacheSize: c.Tokens.CacheSize,
	}
}

// proxyConfig is the proxy's share of the configuration.
func (c *fileConfig) proxyConfig() (proxy.Config, error) {
	pc := proxy.Config{
		SecureCookies:   c.SecureCookies,
		RefreshInterval: time.Duration(c.RefreshInterval),
		StoreTimeout:    time.Duration(c.Store.Timeout),
		ReadTimeout:     time.Duration(c.Limits.ReadTimeout),
		WriteTimeout:    time.Duration(c.Limits.WriteTimeout),
		IdleTimeout:     time.Duration(c.Limits.IdleTimeout),
		MaxHeaderBytes:  c.Limits.MaxHeaderBytes,
		MaxBodyBytes:    c.Limits.MaxBodyBytes,
		MaxConnsPerIP:   c.Limits.MaxConnsPerIP,
		OriginTimeout:   time.Duration(c.Limits.OriginTimeout),
		OriginMaxConns:  c.Limits.OriginMaxConns,
		MaxStreams:      c.Limits.MaxStreams,
		StreamInterval:  time.Duration(c.Limits.StreamInterval),
	}
	for _, p := range c.TrustedProxies {
		pfx, err := parsePrefix(p)
		if err != nil {
			return pc, &configError{Field: "trusted_proxies", Msg: fmt.Sprintf("%q is not an address or CIDR prefix", p)}
		}
		pc.TrustedProxies = append(pc.TrustedProxies, pfx)
	}
	for _, e := range c.Events {
		pc.Events = append(pc.Events, proxy.Event{
			Lanes: proxyLanes(e.Lanes),
			Page: proxy.PageConfig{
				TemplateFile: e.Page.Template, LogoURL: e.Page.LogoURL, Text: e.Page.Text,
				PrimaryColor: e.Page.PrimaryColor, BackgroundColor: e.Page.BackgroundColor,
			},
			Name: e.Name, Title: e.Title, Hosts: e.Hosts, PathPrefix: e.PathPrefix, Origin: e.Origin,
			RatePerSecond: e.RatePerSecond, Paused: e.Paused, SessionDuration: time.Duration(e.SessionDuration),
			SessionMax: time.Duration(e.SessionMax), NoRenewal: e.SessionRenewal != nil && !*e.SessionRenewal,
			MaxActive: e.MaxActive, ClaimWindow: time.Duration(e.ClaimWindow),
			PrequeueOpensAt: e.PrequeueOpensAt, SaleStartsAt: e.SaleStartsAt, SaleEndsAt: e.SaleEndsAt,
			PrequeueClosesBefore: time.Duration(e.PrequeueCloses),
			Adaptive:             e.Adaptive.proxyConfig(),
		})
	}
	return pc, nil
}

// loadConfig reads, decodes, overrides from the environment and validates a
// configuration file. Errors name the field and, where known, the line.
func loadConfig(path string, getenv func(string) string) (*fileConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c, lines, err := parseConfig(path, data)
	if err != nil {
		return nil, err
	}
	if err := finishConfig(c, getenv); err != nil {
		return nil, locate(err, path, lines)
	}
	return c, nil
}

// finishConfig applies the environment and defaults, then validates.
func finishConfig(c *fileConfig, getenv func(string) string) error {
	if err := applyEnv(c, getenv); err != nil {
		return err
	}
	c.defaults()
	return c.validate()
}

// locate adds the file and line to an error naming a field.
func locate(err error, file string, lines map[string]int) error {
	var ce *configError
	var fe *proxy.FieldError
	switch {
	case errors.As(err, &ce):
		return &configError{File: file, Line: lineOf(lines, ce.Field), Field: ce.Field, Msg: ce.Msg}
	case errors.As(err, &fe):
		return &configError{File: file, Line: lineOf(lines, fe.Field), Field: fe.Field, Msg: fe.Err.Error()}
	}
	return &configError{File: file, Msg: err.Error()}
}

// lineOf returns the line of field, or of its nearest parent in the file.
func lineOf(lines map[string]int, field string) int {
	for f := field; f != ""; {
		if l, ok := lines[f]; ok {
			return l
		}
		i := strings.LastIndexAny(f, ".[")
		if i < 0 {
			break
		}
		f = f[:i]
	}
	return 0
}
