// Package archtest keeps the package directions of docs/architecture.md
// mechanical: the test fails when a package imports a project package it may
// not.
package archtest

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

const module = "github.com/foyerhq/foyer"

// allowed lists, per project package, the project packages its non-test code
// may import. A package missing from the list may import nothing of ours.
var allowed = map[string][]string{
	"queue":               {},
	"queue/queuetest":     {"queue"},
	"admission":           {},
	"proxy":               {"queue", "admission"},
	"seating":             {"admission"},
	"seating/seatingtest": {"seating", "internal/testclock"},
	"loadtest":            {},
	"internal/redistest":  {},
	"internal/testclock":  {},
	"cmd/foyer":           {"*"},
	"bench/cmd/baseline":  {"queue", "admission"},
}

func TestImportDirections(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	cmd := exec.Command("go", "list", "-f", "{{.ImportPath}}|{{join .Imports \" \"}}", "./...")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	seen := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, imports, _ := strings.Cut(line, "|")
		rel := strings.TrimPrefix(strings.TrimPrefix(pkg, module), "/")
		if rel == "internal/archtest" {
			continue
		}
		seen++
		rules, known := allowed[rel]
		for _, imp := range strings.Fields(imports) {
			if !strings.HasPrefix(imp, module+"/") {
				continue
			}
			dep := strings.TrimPrefix(imp, module+"/")
			if dep == "cmd/foyer" {
				t.Errorf("%s imports cmd/foyer: nothing may import the binary", rel)
				continue
			}
			if !known {
				t.Errorf("%s is not in the import rules; add it to allowed in %s", rel, file)
				break
			}
			if !permits(rules, dep) {
				t.Errorf("%s imports %s, which the architecture forbids (allowed: %v)", rel, dep, rules)
			}
		}
	}
	if seen < 4 {
		t.Fatalf("go list found only %d packages; is the module root right?", seen)
	}
}

func permits(rules []string, dep string) bool {
	for _, r := range rules {
		if r == "*" || r == dep {
			return true
		}
	}
	return false
}
