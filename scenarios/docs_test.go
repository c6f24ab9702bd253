package scenarios

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/natsim/natsim/sim/strategy"
)

var updateDocs = flag.Bool("update-docs", false, "rewrite the generated sections of docs/scenarios.md")

const (
	strategiesBegin = "<!-- strategies:begin (generated from the strategy registry by `go test ./scenarios -run TestStrategyDocs -update-docs`) -->\n"
	strategiesEnd   = "<!-- strategies:end -->"
)

// strategyTable renders every registered strategy with its parameters,
// their types and defaults, as the reference table of docs/scenarios.md.
func strategyTable() string {
	var b strings.Builder
	b.WriteString("| strategy | parameters (type, default) | source |\n|---|---|---|\n")
	for _, p := range strategy.Presets() {
		var ps []string
		for _, q := range p.Params() {
			ps = append(ps, fmt.Sprintf("`%s` (%s, %s)", q.Name, q.Kind, q.Default))
		}
		params := strings.Join(ps, ", ")
		if params == "" {
			params = "none"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", p.Name, params, p.Source)
	}
	return b.String()
}

// TestStrategyDocs fails when the strategy table in docs/scenarios.md no
// longer matches the registry, so the reference cannot drift from what the
// loader accepts.
func TestStrategyDocs(t *testing.T) {
	const path = "../docs/scenarios.md"
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(doc)
	i := strings.Index(s, strategiesBegin)
	j := strings.Index(s, strategiesEnd)
	if i < 0 || j < i {
		t.Fatalf("%s: markers for the generated strategy table are missing", path)
	}
	want := s[:i+len(strategiesBegin)] + strategyTable() + s[j:]
	if want == s {
		return
	}
	if *updateDocs {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s: the strategy table is stale; regenerate it with go test ./scenarios -run TestStrategyDocs -update-docs", path)
}
