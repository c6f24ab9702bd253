package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const starved = "testdata/starved-cgnat.yaml"

// The story of issue 15: phones behind a CGNAT pool too small for them
// got 20% delivery and nothing said why. Now validate warns before the
// run, and run's summary table and summary.json say why after it.
func TestStarvedCGNATWarnsAtValidateAndRun(t *testing.T) {
	capacity := "1 public address x 512 ports / 128-port blocks = 4 subscribers"
	code, out, errs := natsim(t, "validate", starved)
	if code != exitOK || !strings.Contains(out, "ok") {
		t.Fatalf("validate: exit %d\n%s%s", code, out, errs)
	}
	want := "networks.cell.nat[0] (cgnat-typical): 10 devices share it but it holds 4 subscribers: " + capacity + "; public_addresses: 3 would hold them"
	if !strings.Contains(errs, starved+": warning: "+want) {
		t.Errorf("validate's warning is missing or wrong; want %q in:\n%s", want, errs)
	}

	dir := t.TempDir()
	code, out, errs = natsim(t, "run", starved, "--out", dir)
	if code != exitOK {
		t.Fatalf("run: exit %d\n%s%s", code, out, errs)
	}
	if !strings.Contains(errs, "natsim run: warning: "+want) {
		t.Errorf("run did not warn on stderr before running:\n%s", errs)
	}
	for _, w := range []string{
		"warning: " + want,
		"warning: cgnat: 6 of 10 devices never connected and the NAT refused ",
		"ports (port_quota_failures): " + capacity,
		"warning: group phones: ",
		"% of pushes delivered, below 50%: its NAT ran out of ports (above)",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("run's summary lacks %q:\n%s", w, out)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Warnings []string `json:"warnings"`
	}
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	if len(s.Warnings) != 3 || s.Warnings[0] != want {
		t.Errorf("summary.json warnings = %q, want the three the table printed", s.Warnings)
	}

	// Enough addresses: no warning anywhere.
	code, out, errs = natsim(t, "validate", starved, "--set", "networks.cell.nat[0].public_addresses=3")
	if code != exitOK || strings.Contains(errs, "warning") {
		t.Errorf("validate with 3 addresses: exit %d, stderr %q", code, errs)
	}
	_ = out
}

func TestUnknownPresetSuggestsNearest(t *testing.T) {
	code, _, errs := natsim(t, "validate", starved, "--set", "networks.cell.nat[0].preset=cgnat-typcal")
	if code != exitError || !strings.Contains(errs, `unknown NAT preset "cgnat-typcal" (did you mean "cgnat-typical"?)`) {
		t.Errorf("exit %d, stderr %q", code, errs)
	}
}

func TestSweepWarnsBeforeItStarts(t *testing.T) {
	code, out, errs := natsim(t, "sweep", starved, "--out", t.TempDir(), "--set", "duration=5m",
		"--set", `sweep={grid: {"networks.cell.nat[0].public_addresses": [1, 2]}}`)
	if code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	if strings.Count(errs, "natsim sweep: warning: networks.cell.nat[0] (cgnat-typical): 10 devices share it but it holds") != 2 {
		t.Errorf("want one capacity warning per pool size (1 and 2 addresses):\n%s", errs)
	}
}
