package plots

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeSynthRun writes a run directory with devices devices in two groups.
func writeSynthRun(t testing.TB, dir string, devices int) {
	t.Helper()
	writeJSON(t, filepath.Join(dir, SummaryFile), synthSummary())
	var ev, dv, ts strings.Builder
	dv.WriteString("device,group,network,strategy,pushes_sent,pushes_delivered,delivery_ratio,latency_p50_s,latency_p99_s,keepalives,reconnects,energy_j,final_interval_s\n")
	for i := range devices {
		g := []string{"fixed", "adaptive"}[i%2]
		fmt.Fprintf(&dv, "%s/%d,%s,cgnat,%s,10,10,1,0.2,1,288,%d,300,\n", g, i, g, g, i%7)
	}
	for t := 0.0; t < 86400; t += 1800 {
		for i := range devices {
			g := []string{"fixed", "adaptive"}[i%2]
			fmt.Fprintf(&ev, `{"t_s":%g,"kind":"keepalive_ok","device":"%s/%d"}`+"\n", t+float64(i%100), g, i)
		}
	}
	ev.WriteString(`{"t_s":10,"kind":"conn_up","device":"fixed/6"}` + "\n")
	ts.WriteString("t_s,group,metric,value\n")
	for _, s := range synthTimeseries() {
		fmt.Fprintf(&ts, "%g,%s,%s,%g\n", s.TS, s.Group, s.Metric, s.Value)
	}
	for name, body := range map[string]string{EventsFile: ev.String(), DevicesFile: dv.String(), TimeseriesFile: ts.String()} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRenderRunAndSweep(t *testing.T) {
	run := t.TempDir()
	writeSynthRun(t, run, 20)
	files, err := Render(run, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f))
	}
	if got := strings.Join(names, " "); got != "latency-cdf.png energy.png server.png convergence.png timeline.png" {
		t.Errorf("run figures: %s", got)
	}
	sweep := t.TempDir()
	writeSynthSweep(t, sweep, synthIntervals, synthTimeouts, 3)
	files, err = Render(sweep, Options{Format: SVG})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 || filepath.Base(files[0]) != "tradeoff.svg" || filepath.Base(files[1]) != "heatmap-phones.svg" {
		t.Errorf("sweep figures: %v", files)
	}
	if _, err := Render(t.TempDir(), Options{}); err == nil {
		t.Error("no error for an empty directory")
	}
}

// TestDeterministic renders every figure twice in every format and wants
// identical bytes: no timestamps, no map-order effects. SVG and PDF must
// also carry their fonts.
func TestDeterministic(t *testing.T) {
	s := readSynthSweep(t)
	figs := func() []*Figure {
		tr, _ := TradeOff(s, TradeOffOptions{})
		gs, _ := HeatGrids(s, HeatMapOptions{})
		hm, _ := HeatMap(gs[0], HeatMapOptions{})
		sum := synthSummary()
		cdf, _ := LatencyCDF(sum.Groups)
		en, _ := EnergyBreakdown(sum.Groups)
		sv, _ := ServerView(synthTimeseries())
		cv, _ := Convergence(synthTimeseries(), sum.NATs)
		tls, err := BuildTimelines(strings.NewReader(synthEvents), "events.jsonl", []string{"phones/1", "phones/2"}, 1800, 0)
		if err != nil {
			t.Fatal(err)
		}
		tl, _ := DeviceTimeline(tls)
		return []*Figure{tr, hm, cdf, en, sv, cv, tl}
	}
	a, b := figs(), figs()
	for _, format := range []Format{PNG, SVG, PDF} {
		for i := range a {
			var x, y bytes.Buffer
			if err := a[i].Encode(&x, format, 0); err != nil {
				t.Fatal(err)
			}
			if err := b[i].Encode(&y, format, 0); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(x.Bytes(), y.Bytes()) {
				t.Errorf("%s %s: two renders differ", a[i].Name, format)
			}
			switch format {
			case SVG:
				if !bytes.Contains(x.Bytes(), []byte("@font-face")) {
					t.Errorf("%s svg: fonts not embedded", a[i].Name)
				}
			case PDF:
				if !bytes.Contains(x.Bytes(), []byte("/FontFile2")) {
					t.Errorf("%s pdf: fonts not embedded", a[i].Name)
				}
			}
		}
	}
}

func TestParseFormat(t *testing.T) {
	for in, want := range map[string]Format{"PNG": PNG, ".svg": SVG, "pdf": PDF} {
		if f, err := ParseFormat(in); err != nil || f != want {
			t.Errorf("ParseFormat(%q) = %q, %v", in, f, err)
		}
	}
	if _, err := ParseFormat("gif"); err == nil {
		t.Error("gif accepted")
	}
}

// Options.Figures draws only the kinds asked for and rejects unknown ones.
func TestRenderChosenFigures(t *testing.T) {
	run := t.TempDir()
	writeSynthRun(t, run, 20)
	files, err := Render(run, Options{Figures: []string{"energy", "timeline"}})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f))
	}
	if got := strings.Join(names, " "); got != "energy.png timeline.png" {
		t.Errorf("figures energy and timeline drew %s", got)
	}
	if _, err := Render(run, Options{Figures: []string{"delivery-over-time"}}); err == nil || !strings.Contains(err.Error(), `unknown figure "delivery-over-time"`) {
		t.Errorf("an unknown figure name: %v", err)
	}
}

// A directory without results is an error, whatever figures are asked for.
func TestRenderEmptyDirIsAnError(t *testing.T) {
	for _, o := range []Options{{}, {Figures: []string{"energy"}}} {
		if _, err := Render(t.TempDir(), o); err == nil || !strings.Contains(err.Error(), "holds no results") {
			t.Errorf("Render(empty dir, figures %v) = %v, want a holds-no-results error", o.Figures, err)
		}
	}
}
