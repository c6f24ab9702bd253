package harness_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gonum.org/v1/plot/cmpimg"

	"github.com/natsim/natsim/harness"
	"github.com/natsim/natsim/plots"
	"github.com/natsim/natsim/scenarios"
)

var updateGallery = flag.Bool("update-gallery", false, "rewrite docs/gallery/ and the README's gallery section from the shipped scenarios (make gallery)")

// The gallery: figures drawn from the shipped scenarios, shown in the
// README. TestGallery redraws them and fails when the committed files are
// stale; `make gallery` (go test ./harness -run '^TestGallery$'
// -args -update-gallery) rewrites them.
const (
	galleryDir    = "../docs/gallery"
	galleryReadme = "../README.md"
	galleryBegin  = "<!-- gallery:begin -->"
	galleryEnd    = "<!-- gallery:end -->"
	galleryDPI    = 96
)

// galleryRun is one shipped scenario run for the gallery, with the
// --set-style overrides that make it take seconds.
type galleryRun struct {
	file  string
	sets  []string
	sweep bool
	figs  []galleryFig
}

// galleryFig is a figure Render draws (name without extension) and the
// file and caption it gets in the gallery.
type galleryFig struct {
	fig, file, caption string
}

var galleryRuns = []galleryRun{
	{
		file: "sweep-interval.yaml", sweep: true,
		sets: []string{"groups.phones.count=30", "sweep.replicates=2"},
		figs: []galleryFig{
			{"tradeoff", "sweep-tradeoff.png", "Trade-off: on-time ratio (pushes delivered within 60 s) and radio energy against the keep-alive interval, one line per NAT timeout with 95% bands; the operating point is the cheapest interval (worst-case energy) at which every NAT population meets the target."},
			{"heatmap-phones", "sweep-heatmap.png", "Survival: on-time ratio over keep-alive interval × NAT idle timeout; outlined cells keep ≥ 99% of pushes on time."},
		},
	},
	{
		file: "quickstart.yaml",
		figs: []galleryFig{
			{"latency-cdf", "quickstart-latency-cdf.png", "Push latency CDF of the quickstart: 50 phones behind home routers, a 15-minute keep-alive."},
		},
	},
	{
		file: "nat-reboot-storm.yaml",
		sets: []string{"groups.phones.count=200"},
		figs: []galleryFig{
			{"server", "storm-server.png", "Server view of a CGNAT flush at 6 h: open and half-open connections, and the reconnect storm."},
			{"timeline", "storm-timeline.png", "One phone through the flush: pushes, the connection, keep-alives and its NAT mapping."},
		},
	},
}

// gallerySection is the README's gallery section (between the markers).
func gallerySection() string {
	var b strings.Builder
	b.WriteString("\n## Gallery\n\n")
	b.WriteString("Drawn from the shipped scenarios (smaller populations so they take seconds) by\n")
	b.WriteString("`make gallery`; `go test ./harness -run '^TestGallery$'` fails when they are stale.\n")
	b.WriteString("See docs/plots.md for how to read each figure.\n\n")
	for _, r := range galleryRuns {
		for _, f := range r.figs {
			fmt.Fprintf(&b, "**`%s`**: %s\n\n![%s](docs/gallery/%s)\n\n", r.file, f.caption, strings.TrimSuffix(f.file, ".png"), f.file)
		}
	}
	return b.String()
}

// drawGallery runs the gallery's scenarios in tmp and returns each
// gallery file's PNG bytes.
func drawGallery(t *testing.T, tmp string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, r := range galleryRuns {
		s, err := (&scenarios.Loader{Sets: r.sets}).LoadFile(filepath.Join("..", "scenarios", r.file))
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(tmp, strings.TrimSuffix(r.file, ".yaml"))
		if r.sweep {
			if _, err := harness.Sweep(context.Background(), s, dir, harness.SweepOptions{}); err != nil {
				t.Fatal(err)
			}
		} else {
			res, err := harness.Run(context.Background(), s, harness.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if err := res.Write(dir); err != nil {
				t.Fatal(err)
			}
		}
		figs := filepath.Join(dir, "plots")
		if _, err := plots.Render(dir, plots.Options{Format: plots.PNG, OutDir: figs, DPI: galleryDPI}); err != nil {
			t.Fatal(err)
		}
		for _, f := range r.figs {
			b, err := os.ReadFile(filepath.Join(figs, f.fig+".png"))
			if err != nil {
				t.Fatalf("%s: %v", r.file, err)
			}
			out[f.file] = b
		}
	}
	return out
}

// TestGallery redraws the README's gallery from the shipped scenarios and
// compares it with docs/gallery/ (approximately, via gonum's cmpimg: the
// simulation is deterministic, anti-aliasing may differ in the last bit)
// and the README's section with gallerySection.
func TestGallery(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three scenarios")
	}
	got := drawGallery(t, t.TempDir())
	readme, err := os.ReadFile(galleryReadme)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(readme, []byte(galleryBegin))
	j := bytes.Index(readme, []byte(galleryEnd))
	if i < 0 || j < i {
		t.Fatalf("README.md: the markers %s and %s are missing", galleryBegin, galleryEnd)
	}
	wantReadme := string(readme[:i+len(galleryBegin)]) + gallerySection() + string(readme[j:])
	if *updateGallery {
		os.RemoveAll(galleryDir)
		if err := os.MkdirAll(galleryDir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, b := range got {
			if err := os.WriteFile(filepath.Join(galleryDir, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(galleryReadme, []byte(wantReadme), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	const hint = "regenerate with make gallery"
	if string(readme) != wantReadme {
		t.Errorf("README.md: the gallery section is stale; %s", hint)
	}
	entries, err := os.ReadDir(galleryDir)
	if err != nil {
		t.Fatalf("%v; %s", err, hint)
	}
	var have []string
	for _, e := range entries {
		have = append(have, e.Name())
	}
	for name, b := range got {
		if !slices.Contains(have, name) {
			t.Errorf("docs/gallery/%s is missing; %s", name, hint)
			continue
		}
		want, err := os.ReadFile(filepath.Join(galleryDir, name))
		if err != nil {
			t.Fatal(err)
		}
		ok, err := cmpimg.EqualApprox("png", b, want, 0.02)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			p := filepath.Join(t.TempDir(), name)
			os.WriteFile(p, b, 0o644)
			t.Errorf("docs/gallery/%s is stale (today's drawing in %s); %s", name, p, hint)
		}
	}
	for _, name := range have {
		if _, ok := got[name]; !ok {
			t.Errorf("docs/gallery/%s is not part of the gallery; %s", name, hint)
		}
	}
}
