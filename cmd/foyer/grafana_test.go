package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/foyerhq/foyer/admission"
	"github.com/foyerhq/foyer/proxy"
	"github.com/foyerhq/foyer/queue"
)

const grafanaDashboard = "../../configs/grafana/foyer-dashboard.json"

// describingRegisterer records the names of the metrics registered with it,
// from what each collector describes: gathering would miss the vectors that
// have no series yet.
type describingRegisterer struct {
	names map[string]bool
}

var fqNameRE = regexp.MustCompile(`fqName: "([^"]+)"`)

func (r *describingRegisterer) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc)
	go func() {
		c.Describe(ch)
		close(ch)
	}()
	var err error
	for d := range ch {
		m := fqNameRE.FindStringSubmatch(d.String())
		if m == nil {
			err = errors.Join(err, fmt.Errorf("no name in %s", d))
			continue
		}
		r.names[m[1]] = true
	}
	return err
}

func (r *describingRegisterer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

func (r *describingRegisterer) Unregister(prometheus.Collector) bool { return false }

// proxyMetricNames returns the metrics a proxy registers, built the way
// foyer serve builds the demo's.
func proxyMetricNames(t *testing.T) map[string]bool {
	t.Helper()
	c := demoConfig()
	c.defaults()
	c.Events[0].Origin = "http://" + dialAddr(c.SeatingListen)
	pc, err := c.proxyConfig()
	if err != nil {
		t.Fatal(err)
	}
	keys, err := loadKeys(c)
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := admission.NewTokens(c.admissionConfig(), keys.set)
	if err != nil {
		t.Fatal(err)
	}
	tickets, _, err := loadTicketSigner(c)
	if err != nil {
		t.Fatal(err)
	}
	reg := &describingRegisterer{names: map[string]bool{}}
	if _, err := proxy.New(pc, proxy.Deps{
		Store: queue.NewMemory(nil), Tickets: tickets, Tokens: tokens, JWKS: keys.set.JWKS(), Registerer: reg,
	}); err != nil {
		t.Fatal(err)
	}
	if len(reg.names) < 10 {
		t.Fatalf("the proxy registered %d metrics; the recording is broken: %v", len(reg.names), reg.names)
	}
	return reg.names
}

// dashboard is the part of a Grafana dashboard the test checks.
type dashboard struct {
	Title         string `json:"title"`
	UID           string `json:"uid"`
	SchemaVersion int    `json:"schemaVersion"`
	Templating    struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			Datasource *datasourceRef  `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
	Annotations struct {
		List []struct {
			Name       string         `json:"name"`
			Expr       string         `json:"expr"`
			Datasource *datasourceRef `json:"datasource"`
		} `json:"list"`
	} `json:"annotations"`
	Panels []struct {
		ID         int            `json:"id"`
		Type       string         `json:"type"`
		Title      string         `json:"title"`
		Datasource *datasourceRef `json:"datasource"`
		GridPos    struct{ X, Y, W, H int }
		Targets    []struct {
			RefID      string         `json:"refId"`
			Expr       string         `json:"expr"`
			Datasource *datasourceRef `json:"datasource"`
		} `json:"targets"`
	} `json:"panels"`
}

type datasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// TestGrafanaDashboard checks configs/grafana/foyer-dashboard.json: a
// dashboard that imports anywhere (its Prometheus data source is a
// variable), whose panels each query something, laid out without overlap,
// that charts what the console charts, and whose queries name only metrics
// the proxy registers.
func TestGrafanaDashboard(t *testing.T) {
	raw, err := os.ReadFile(grafanaDashboard)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("%s: %v", grafanaDashboard, err)
	}
	if d.Title == "" || d.UID == "" || d.SchemaVersion < 30 {
		t.Errorf("title %q, uid %q, schemaVersion %d: want a title, a uid and schemaVersion ≥ 30", d.Title, d.UID, d.SchemaVersion)
	}

	// Variables: the data source, and the events from a metric.
	vars := map[string]bool{}
	hasDatasource := false
	var queries []string
	for _, v := range d.Templating.List {
		vars[v.Name] = true
		if v.Name == "datasource" && v.Type == "datasource" && string(v.Query) == `"prometheus"` {
			hasDatasource = true
		}
		if v.Type == "query" {
			var q struct{ Query string }
			if err := json.Unmarshal(v.Query, &q); err != nil || q.Query == "" {
				t.Errorf("variable %s: query %s, want an object with a query", v.Name, v.Query)
			}
			queries = append(queries, q.Query)
			checkDatasource(t, "variable "+v.Name, v.Datasource)
		}
	}
	if !hasDatasource {
		t.Error(`no variable "datasource" of type datasource for prometheus: the dashboard would be tied to one Grafana's data source`)
	}
	for _, a := range d.Annotations.List {
		if a.Expr != "" {
			queries = append(queries, a.Expr)
			checkDatasource(t, "annotation "+a.Name, a.Datasource)
		}
	}

	// Panels: unique ids, each queries, inside the 24-column grid, no overlap.
	ids := map[int]bool{}
	type cell struct{ x, y int }
	taken := map[cell]string{}
	for _, p := range d.Panels {
		name := fmt.Sprintf("panel %d %q", p.ID, p.Title)
		if ids[p.ID] {
			t.Errorf("%s: duplicate id", name)
		}
		ids[p.ID] = true
		g := p.GridPos
		if g.X < 0 || g.W <= 0 || g.X+g.W > 24 || g.Y < 0 || g.H <= 0 {
			t.Errorf("%s: gridPos %+v outside the 24-column grid", name, g)
		}
	cells:
		for x := g.X; x < g.X+g.W; x++ {
			for y := g.Y; y < g.Y+g.H; y++ {
				if other, ok := taken[cell{x, y}]; ok {
					t.Errorf("%s overlaps %s at column %d, row %d", name, other, x, y)
					break cells
				}
				taken[cell{x, y}] = name
			}
		}
		if p.Type == "row" {
			continue
		}
		if p.Title == "" || len(p.Targets) == 0 {
			t.Errorf("%s: want a title and at least one target", name)
		}
		checkDatasource(t, name, p.Datasource)
		refs := map[string]bool{}
		for _, tg := range p.Targets {
			if tg.Expr == "" || tg.RefID == "" || refs[tg.RefID] {
				t.Errorf("%s: target %q: want an expr and a unique refId", name, tg.RefID)
			}
			refs[tg.RefID] = true
			checkDatasource(t, name+" target "+tg.RefID, tg.Datasource)
			queries = append(queries, tg.Expr)
		}
	}

	registered := proxyMetricNames(t)
	metric := regexp.MustCompile(`\bfoyer_[a-z0-9_]+`)
	variable := regexp.MustCompile(`\$(\w+)`)
	used := map[string]bool{}
	for _, q := range queries {
		if err := balanced(q); err != nil {
			t.Errorf("query %q: %v", q, err)
		}
		for _, v := range variable.FindAllStringSubmatch(q, -1) {
			if !vars[v[1]] && !strings.HasPrefix(v[1], "__") {
				t.Errorf("query %q uses $%s, which the dashboard does not define", q, v[1])
			}
		}
		for _, name := range metric.FindAllString(q, -1) {
			base := name
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if b, ok := strings.CutSuffix(name, suffix); ok && registered[b] {
					base = b
				}
			}
			if !registered[base] {
				t.Errorf("query %q uses %s, which the proxy does not register", q, name)
			}
			used[base] = true
		}
	}
	// What the console charts, the dashboard charts.
	for _, want := range []string{
		"foyer_waiting", "foyer_serving", "foyer_admission_rate", "foyer_admission_rate_target_per_second",
		"foyer_active_sessions", "foyer_max_active", "foyer_paused", "foyer_sold_out",
		"foyer_origin_request_duration_seconds", "foyer_origin_errors_total",
		"foyer_admission_seats_left", "foyer_admission_decisions_total",
	} {
		if !used[want] {
			t.Errorf("no panel uses %s", want)
		}
	}
	if t.Failed() {
		names := make([]string, 0, len(registered))
		for n := range registered {
			names = append(names, n)
		}
		sort.Strings(names)
		t.Logf("metrics the proxy registers: %s", strings.Join(slices.Compact(names), ", "))
	}
}

func checkDatasource(t *testing.T, what string, ds *datasourceRef) {
	t.Helper()
	if ds == nil || ds.Type != "prometheus" || ds.UID != "${datasource}" {
		t.Errorf("%s: datasource %+v, want prometheus with uid ${datasource}", what, ds)
	}
}

// balanced reports brackets that do not pair up in a query, outside
// quoted strings.
func balanced(q string) error {
	var stack []rune
	pairs := map[rune]rune{')': '(', ']': '[', '}': '{'}
	quoted := false
	for _, r := range q {
		switch {
		case r == '"':
			quoted = !quoted
		case quoted:
		case r == '(' || r == '[' || r == '{':
			stack = append(stack, r)
		case pairs[r] != 0:
			if len(stack) == 0 || stack[len(stack)-1] != pairs[r] {
				return fmt.Errorf("unbalanced %q", r)
			}
			stack = stack[:len(stack)-1]
		}
	}
	if quoted || len(stack) > 0 {
		return errors.New("unclosed bracket or quote")
	}
	return nil
}
