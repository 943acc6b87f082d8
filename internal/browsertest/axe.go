package browsertest

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// Violation is one rule of axe-core that a page breaks.
type Violation struct {
	// ID names the rule, e.g. color-contrast.
	ID string `json:"id"`
	// Impact is minor, moderate, serious or critical.
	Impact  string `json:"impact"`
	Help    string `json:"help"`
	HelpURL string `json:"helpUrl"`
	// Nodes are the elements at fault.
	Nodes []ViolationNode `json:"nodes"`
}

// ViolationNode is one element that breaks a rule.
type ViolationNode struct {
	// Target is axe's selector path to the element (nested lists for
	// iframes and shadow roots).
	Target []any `json:"target"`
	// Summary is axe's explanation of what to fix.
	Summary string `json:"failureSummary"`
}

// Blocking reports whether v is serious or critical: what a fan using a
// screen reader or a keyboard cannot get past.
func (v Violation) Blocking() bool {
	return v.Impact == "serious" || v.Impact == "critical"
}

// String is the rule, its impact, its help and the elements at fault.
func (v Violation) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s): %s <%s>", v.ID, v.Impact, v.Help, v.HelpURL)
	for _, n := range v.Nodes {
		fmt.Fprintf(&b, "\n\t%v", n.Target)
		if n.Summary != "" {
			fmt.Fprintf(&b, ": %s", strings.ReplaceAll(n.Summary, "\n", " "))
		}
	}
	return b.String()
}

// axeRun runs every default rule of axe-core on the document and returns
// the violations as JSON text, decoded on the Go side to keep the field
// names under our control.
const axeRun = `(async () => {
  const r = await axe.run(document, {resultTypes: ["violations"]});
  return JSON.stringify(r.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
    nodes: v.nodes.map(n => ({target: n.target, failureSummary: n.failureSummary})),
  })));
})()`

// Audit injects axeSource (see AxeSource) into the tab's current page unless
// it is there already, runs axe-core's default rules and returns the
// violations.
func (tab *Tab) Audit(axeSource string) ([]Violation, error) {
	loaded, err := chromedp.Run(tab.Ctx, chromedp.Evaluate[bool](`typeof window.axe === "object"`))
	if err != nil {
		return nil, fmt.Errorf("browsertest: axe: %w", err)
	}
	if !loaded {
		if err := chromedp.Do(tab.Ctx, chromedp.Evaluate[chromedp.Void](axeSource)); err != nil {
			return nil, fmt.Errorf("browsertest: injecting axe-core: %w", err)
		}
	}
	out, err := chromedp.Run(tab.Ctx, chromedp.Evaluate[string](axeRun, chromedp.EvalAwaitPromise))
	if err != nil {
		return nil, fmt.Errorf("browsertest: running axe-core: %w", err)
	}
	var vs []Violation
	if err := json.Unmarshal([]byte(out), &vs); err != nil {
		return nil, fmt.Errorf("browsertest: axe-core's answer: %w", err)
	}
	return vs, nil
}

// RequireAccessible audits the tab's current page, named page in the
// messages: every violation is logged, and each serious or critical one
// fails t.
func (tab *Tab) RequireAccessible(t testing.TB, axeSource, page string) {
	t.Helper()
	vs, err := tab.Audit(axeSource)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		if v.Blocking() {
			t.Errorf("accessibility of the %s: %s", page, v)
		} else {
			t.Logf("accessibility of the %s (not blocking): %s", page, v)
		}
	}
	if len(vs) == 0 {
		t.Logf("accessibility of the %s: axe-core found no violation", page)
	}
}
