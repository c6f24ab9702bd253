package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func natsim(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

const quick = "../../scenarios/quickstart.yaml"

func TestRunPassesAndWritesResults(t *testing.T) {
	dir := t.TempDir()
	code, out, errs := natsim(t, "run", quick, "--out", dir, "--set", "groups.phones.count=5")
	if code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	for _, want := range []string{"group", "delivery", "p99 s", "ka/dev-h", "J/dev-day", "phones", "pass  reconnects == 0", "PASS"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Devices int  `json:"devices"`
		Pass    bool `json:"pass"`
	}
	if err := json.Unmarshal(b, &s); err != nil || s.Devices != 5 || !s.Pass {
		t.Errorf("summary.json: %+v %v", s, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "plots", "latency-cdf.svg")); err != nil {
		t.Errorf("the scenario's latency-cdf plot was not drawn: %v", err)
	}
}

func TestRunFailingExpectationExitsOne(t *testing.T) {
	code, out, _ := natsim(t, "run", quick, "--out", t.TempDir(), "--set", "groups.phones.count=3",
		"--set", "expect=[reconnects > 0]")
	if code != exitFailed || !strings.Contains(out, "FAIL  reconnects > 0") {
		t.Fatalf("exit %d, want 1:\n%s", code, out)
	}
}

func TestBadInputExitsTwo(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("name: x\nduration: 1h\nintreval: 3\n"), 0o644)
	cases := [][]string{
		{"run", bad},
		{"run"},
		{"run", "missing.yaml"},
		{"frobnicate"},
		{"sweep", quick, "--shard", "3/2"},
		{"merge", "--out", t.TempDir()},
		{"plot", t.TempDir(), "--format", "gif"},
		{"validate", bad},
	}
	for _, c := range cases {
		code, _, errs := natsim(t, c...)
		if code != exitError || errs == "" {
			t.Errorf("%v: exit %d, stderr %q; want 2 and a message", c, code, errs)
		}
	}
	_, _, errs := natsim(t, "validate", bad)
	if !strings.Contains(errs, "bad.yaml:3:") {
		t.Errorf("validate error lacks the position: %s", errs)
	}
}

func TestValidatePrintConfigSchemaPresetsVersion(t *testing.T) {
	if code, out, errs := natsim(t, "validate", quick); code != exitOK || !strings.Contains(out, "ok") {
		t.Errorf("validate: %d %s %s", code, out, errs)
	}
	code, out, _ := natsim(t, "run", quick, "--print-config", "--seed", "7")
	if code != exitOK || !strings.Contains(out, "seed: 7") || !strings.Contains(out, "name: quickstart") {
		t.Errorf("print-config: %d\n%s", code, out)
	}
	code, out, _ = natsim(t, "schema")
	if code != exitOK || !json.Valid([]byte(out)) || !strings.Contains(out, "$schema") {
		t.Errorf("schema: %d %.200s", code, out)
	}
	code, out, _ = natsim(t, "presets")
	for _, want := range []string{"NAT PRESETS", "cgnat-typical", "NAT MIXTURES", "STRATEGIES", "fixed", "ack_timeout (duration, default 30s)", "RADIO PRESETS", "lte-huang2012", "source:"} {
		if code != exitOK || !strings.Contains(out, want) {
			t.Errorf("presets lacks %q", want)
		}
	}
	if code, out, _ := natsim(t, "version"); code != exitOK || !strings.HasPrefix(out, "natsim ") {
		t.Errorf("version: %d %s", code, out)
	}
}

func TestSweepShardMergeAndPlot(t *testing.T) {
	tmp := t.TempDir()
	sets := []string{"--set", "groups.phones.count=3", "--set", "duration=20m", "--set", "sweep.replicates=1",
		"--set", `sweep.grid={"groups.phones.strategy.interval": [120s, 15m]}`}
	for i, sh := range []string{"0/2", "1/2"} {
		args := append([]string{"sweep", "../../scenarios/sweep-interval.yaml", "--out", filepath.Join(tmp, "s", string(rune('a'+i))), "--shard", sh}, sets...)
		if code, out, errs := natsim(t, args...); code != exitOK {
			t.Fatalf("sweep %s: %d\n%s\n%s", sh, code, out, errs)
		}
	}
	m := filepath.Join(tmp, "merged")
	if code, _, errs := natsim(t, "merge", "--out", m, filepath.Join(tmp, "s", "a"), filepath.Join(tmp, "s", "b")); code != exitOK {
		t.Fatalf("merge: %s", errs)
	}
	code, out, errs := natsim(t, "plot", m, "--out", filepath.Join(tmp, "fig"), "--format", "svg")
	if code != exitOK || !strings.Contains(out, ".svg") {
		t.Fatalf("plot: %d\n%s\n%s", code, out, errs)
	}
}

// Asking for help is not an error; a bad flag is.
func TestHelpExitsZeroBadFlagTwo(t *testing.T) {
	for _, cmd := range []string{"run", "sweep", "merge", "validate", "schema", "presets", "plot", "pushd"} {
		if code, _, errs := natsim(t, cmd, "-h"); code != exitOK || !strings.Contains(errs, "Usage") {
			t.Errorf("natsim %s -h: exit %d, stderr %q; want 0 and the usage", cmd, code, errs)
		}
		if code, _, _ := natsim(t, cmd, "--no-such-flag"); code != exitError {
			t.Errorf("natsim %s --no-such-flag: exit %d, want %d", cmd, code, exitError)
		}
	}
}
