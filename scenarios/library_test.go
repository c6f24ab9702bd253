package scenarios

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
)

var updateSchema = flag.Bool("update-schema", false, "rewrite ../docs/scenario.schema.json")

// TestLibraryLoads loads every shipped scenario file and expands its sweep.
func TestLibraryLoads(t *testing.T) {
	ss, err := LoadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, s := range ss {
		names[s.Name] = true
		if len(s.Expect) == 0 {
			t.Errorf("%s: no expectations", s.Name)
		}
		if _, err := Expand(s); err != nil {
			t.Errorf("%s: %v", s.Name, err)
		}
	}
	for _, want := range []string{
		"quickstart", "apns-cgnat", "gcm-vs-5min-carrier", "wechat-converges",
		"tcp-keepalive-defaults", "nat444-handover", "nat-reboot-storm",
		"cgnat-port-exhaustion", "outbound-only-refresh", "rst-vs-silent-drop", "sweep-interval",
		"watch-presence", "watch-presence-sweep",
	} {
		if !names[want] {
			t.Errorf("scenario %s not shipped", want)
		}
	}
}

// TestRenderRoundTrip checks that --print-config output loads back to the
// same scenario and renders identically.
func TestRenderRoundTrip(t *testing.T) {
	files, _ := filepath.Glob("*.yaml")
	for _, f := range files {
		s, err := LoadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out, err := Render(s)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		s2, err := Load(f+" (rendered)", out)
		if err != nil {
			t.Fatalf("%s: rendered config does not load:\n%v\n%s", f, err, out)
		}
		out2, err := Render(s2)
		if err != nil || !bytes.Equal(out, out2) {
			t.Errorf("%s: render is not stable:\n%s\n---\n%s", f, out, out2)
		}
		for name, g := range s.Groups {
			if !reflect.DeepEqual(g.TCP, s2.Groups[name].TCP) || !reflect.DeepEqual(g.Backoff, s2.Groups[name].Backoff) || g.Count != s2.Groups[name].Count {
				t.Errorf("%s: group %s differs after the round trip", f, name)
			}
		}
		if !reflect.DeepEqual(s.Expect, s2.Expect) {
			t.Errorf("%s: expectations differ after the round trip", f)
		}
	}
}

func TestSweepExpansion(t *testing.T) {
	s, err := LoadFile("sweep-interval.yaml")
	if err != nil {
		t.Fatal(err)
	}
	pts, err := Expand(s)
	if err != nil {
		t.Fatal(err)
	}
	if len(pts) != 6*3*3 {
		t.Fatalf("%d points, want 54", len(pts))
	}
	// Odometer order: the first axis slowest, replicates innermost.
	want := [][3]string{
		{"120s", "300s", "0"}, {"120s", "300s", "1"}, {"120s", "300s", "2"},
		{"120s", "1800s", "0"},
	}
	for i, w := range want {
		p := pts[i]
		if p.Assign[0].Value != w[0] || p.Assign[1].Value != w[1] || p.Replicate != int(w[2][0]-'0') || p.Run != i {
			t.Errorf("point %d = %+v, want %v", i, p.Assign, w)
		}
	}
	last := pts[len(pts)-1]
	if last.Assign[0].Value != "1h" || last.Assign[1].Value != "7440s" || last.ID() != "p0017-r02" {
		t.Errorf("last point %s %+v", last.ID(), last.Assign)
	}
	// The values are applied to the resolved scenarios.
	p := pts[3]
	if got := p.Scenario.Groups["phones"].Strategy.Params["interval"].String(); got != "120s" {
		t.Errorf("interval = %s", got)
	}
	if got := p.Scenario.Networks["cell"].NAT[0].Overrides.String(); got != "{tcp: {established: 1800s}}" {
		t.Errorf("overrides = %s", got)
	}
	if p.Scenario.Sweep != nil || p.Scenario.Seed != p.Seed {
		t.Errorf("point scenario keeps its sweep or seed: %v %d", p.Scenario.Sweep, p.Scenario.Seed)
	}
	// Seeds: distinct, deterministic, independent of the run's position.
	seeds := map[uint64]bool{}
	for _, p := range pts {
		seeds[p.Seed] = true
	}
	if len(seeds) != len(pts) {
		t.Errorf("%d distinct seeds for %d runs", len(seeds), len(pts))
	}
	again, _ := Expand(s)
	for i := range pts {
		if pts[i].Seed != again[i].Seed {
			t.Fatalf("seed of run %d differs between expansions", i)
		}
	}
	if DeriveSeed(42, pts[3].Assign, 0) != pts[3].Seed {
		t.Errorf("DeriveSeed disagrees with Expand")
	}
}

func TestShardUnionIsWhole(t *testing.T) {
	s, err := LoadFile("sweep-interval.yaml")
	if err != nil {
		t.Fatal(err)
	}
	pts, err := Expand(s)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{1, 2, 5, 7, 54, 100} {
		var runs []int
		for i := range n {
			sh, err := Shard(pts, i, n)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range sh {
				runs = append(runs, p.Run)
			}
		}
		slices.Sort(runs)
		for i, r := range runs {
			if r != i {
				t.Fatalf("n=%d: shards do not partition the runs: %v", n, runs)
			}
		}
		if len(runs) != len(pts) {
			t.Fatalf("n=%d: %d runs in shards, want %d", n, len(runs), len(pts))
		}
	}
	if _, err := Shard(pts, 3, 3); err == nil {
		t.Error("Shard(3, 3) accepted")
	}
	if i, n, err := ParseShard("2/8"); err != nil || i != 2 || n != 8 {
		t.Errorf("ParseShard(2/8) = %d, %d, %v", i, n, err)
	}
	for _, bad := range []string{"8/8", "-1/2", "1", "a/b", "0/0"} {
		if _, _, err := ParseShard(bad); err == nil {
			t.Errorf("ParseShard(%q) accepted", bad)
		}
	}
}

func TestSweepBadValueNamesPath(t *testing.T) {
	src := base + "sweep:\n  grid:\n    groups.phones.count: [1, -1]\n"
	s, err := Load("t.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Expand(s)
	want := `t.yaml:14:30: groups.phones.count: must be in [1,1000000], got -1`
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

// TestSchemaUpToDate fails when docs/scenario.schema.json is not what the
// Go types generate; run `go generate ./scenarios` to rewrite it.
func TestSchemaUpToDate(t *testing.T) {
	got, err := GenerateSchema(".")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("..", "docs", "scenario.schema.json")
	if *updateSchema {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go generate ./scenarios)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is stale: run go generate ./scenarios", path)
	}
}
