package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/pprof/profile"
)

// parseProfile reads a runtime/pprof file and fails unless it parses and
// has samples of the wanted type.
func parseProfile(t *testing.T, path, sampleType string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("profile not written: %v", err)
	}
	defer f.Close()
	p, err := profile.Parse(f)
	if err != nil {
		t.Fatalf("%s does not parse as a profile: %v", path, err)
	}
	for _, st := range p.SampleType {
		if st.Type == sampleType {
			return
		}
	}
	t.Errorf("%s has sample types %v, want %q", path, p.SampleType, sampleType)
}

func TestRunWritesProfiles(t *testing.T) {
	dir := t.TempDir()
	cpu, mem := filepath.Join(dir, "cpu.pprof"), filepath.Join(dir, "mem.pprof")
	code, out, errs := natsim(t, "run", quick, "--out", filepath.Join(dir, "res"), "--set", "groups.phones.count=3",
		"--cpuprofile", cpu, "--memprofile", mem)
	if code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	parseProfile(t, cpu, "cpu")
	parseProfile(t, mem, "inuse_space")
}

func TestSweepWritesProfiles(t *testing.T) {
	dir := t.TempDir()
	cpu, mem := filepath.Join(dir, "cpu.pprof"), filepath.Join(dir, "mem.pprof")
	code, out, errs := natsim(t, "sweep", quick, "--out", filepath.Join(dir, "res"), "--set", "groups.phones.count=2",
		"--set", "sweep={grid: {groups.phones.strategy.interval: [5m, 10m]}}", "--set", "expect=[]", "--cpuprofile", cpu, "--memprofile", mem)
	if code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	parseProfile(t, cpu, "cpu")
	parseProfile(t, mem, "alloc_space")
}

func TestProfileToUnwritablePathIsAnError(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "no", "such", "dir", "p.pprof")
	for _, flag := range []string{"--cpuprofile", "--memprofile"} {
		code, _, errs := natsim(t, "run", quick, "--out", t.TempDir(), "--set", "groups.phones.count=1", flag, bad)
		if code != exitError {
			t.Errorf("%s to a missing directory: exit %d, want %d (stderr %q)", flag, code, exitError, errs)
		}
	}
}
