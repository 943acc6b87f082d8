package main

import (
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
)

// The documents checked against the code, relative to this package.
const (
	configurationDoc = "../../docs/configuration.md"
	httpAPIDoc       = "../../docs/http-api.md"
	metricsSource    = "../../proxy/metrics.go"
)

// configPaths returns the dotted path of every field of t and its nested
// structs, as written in docs/configuration.md: "store.redis.addrs",
// "events[].rate_per_second". Mappings and lists of mappings are included
// with their children.
func configPaths(t reflect.Type, prefix string) []string {
	var paths []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		p := prefix + name
		paths = append(paths, p)
		ft := f.Type
		switch {
		case ft.Kind() == reflect.Struct:
			paths = append(paths, configPaths(ft, p+".")...)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			paths = append(paths, configPaths(ft.Elem(), p+"[].")...)
		}
	}
	return paths
}

func readDoc(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	return string(b)
}

// TestDocsConfigurationFields checks that docs/configuration.md documents
// every field of fileConfig, and documents no field that does not exist.
func TestDocsConfigurationFields(t *testing.T) {
	doc := readDoc(t, configurationDoc)
	paths := configPaths(reflect.TypeOf(fileConfig{}), "")
	if len(paths) < 40 {
		t.Fatalf("found %d configuration fields; the reflection walk is broken: %v", len(paths), paths)
	}
	for _, p := range paths {
		if !strings.Contains(doc, "`"+p+"`") {
			t.Errorf("%s does not document the configuration field `%s`", configurationDoc, p)
		}
	}

	// Every row of the reference tables names a real field.
	row := regexp.MustCompile("(?m)^\\| `([a-z_\\[\\].]+)` \\|")
	known := map[string]bool{}
	for _, p := range paths {
		known[p] = true
	}
	rows := row.FindAllStringSubmatch(doc, -1)
	if len(rows) == 0 {
		t.Fatalf("%s has no reference table rows like | `field` |", configurationDoc)
	}
	for _, m := range rows {
		if !known[m[1]] {
			t.Errorf("%s has a reference row for `%s`, which is not a field of fileConfig", configurationDoc, m[1])
		}
	}
}

// TestDocsConfigurationExample checks that the complete example of
// docs/configuration.md is a valid configuration that sets every field.
func TestDocsConfigurationExample(t *testing.T) {
	doc := readDoc(t, configurationDoc)
	const marker = "<!-- docs_test: complete example -->\n```yaml\n"
	i := strings.Index(doc, marker)
	if i < 0 {
		t.Fatalf("%s has no complete example (a ```yaml block after %q)", configurationDoc, strings.TrimSpace(marker[:strings.Index(marker, "\n")]))
	}
	body := doc[i+len(marker):]
	end := strings.Index(body, "\n```")
	if end < 0 {
		t.Fatalf("%s: the complete example is not closed", configurationDoc)
	}
	body = body[:end+1]

	c, lines, err := parseConfig("complete example", []byte(body))
	if err != nil {
		t.Fatalf("%s: complete example: %v", configurationDoc, err)
	}
	if err := finishConfig(c, func(string) string { return "" }); err != nil {
		t.Fatalf("%s: complete example: %v", configurationDoc, locate(err, "complete example", lines))
	}
	index := regexp.MustCompile(`\[\d+\]`)
	set := map[string]bool{}
	for p := range lines {
		set[index.ReplaceAllString(p, "[]")] = true
	}
	var missing []string
	for _, p := range configPaths(reflect.TypeOf(fileConfig{}), "") {
		if !set[p] {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		t.Errorf("%s: the complete example does not set %s", configurationDoc, strings.Join(missing, ", "))
	}
}

// metricRE finds metric names in the proxy's source: only string literals,
// so comments that mention a metric do not count.
var metricRE = regexp.MustCompile(`"(foyer_[a-z_]+)"`)

// TestDocsMetrics checks that docs/http-api.md documents every metric the
// proxy registers, and that its metrics section names no other.
func TestDocsMetrics(t *testing.T) {
	src := readDoc(t, metricsSource)
	var names []string
	for _, m := range metricRE.FindAllStringSubmatch(src, -1) {
		if !slices.Contains(names, m[1]) {
			names = append(names, m[1])
		}
	}
	sort.Strings(names)
	if len(names) < 10 {
		t.Fatalf("found %d metric names in %s; the pattern is broken: %v", len(names), metricsSource, names)
	}
	doc := readDoc(t, httpAPIDoc)
	for _, n := range names {
		if !strings.Contains(doc, "`"+n+"`") {
			t.Errorf("%s does not document the metric `%s`", httpAPIDoc, n)
		}
	}

	// The metrics section lists only metrics that exist. Cookie names
	// (foyer_ticket, foyer_admission) live in other sections.
	const heading = "\n### Metrics\n"
	i := strings.Index(doc, heading)
	if i < 0 {
		t.Fatalf("%s has no %q section", httpAPIDoc, strings.TrimSpace(heading))
	}
	section := doc[i+len(heading):]
	if loc := regexp.MustCompile(`\n#{2,3} `).FindStringIndex(section); loc != nil {
		section = section[:loc[0]]
	}
	for _, m := range regexp.MustCompile("`(foyer_[a-z_]+)").FindAllStringSubmatch(section, -1) {
		n := m[1]
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(n, suffix); ok && slices.Contains(names, base) {
				n = base
			}
		}
		if !slices.Contains(names, n) {
			t.Errorf("%s names the metric `%s`, which %s does not register", httpAPIDoc, m[1], metricsSource)
		}
	}
}
