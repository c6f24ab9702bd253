package plots

import (
	"io"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkSweep1000 reads a 1,000-point sweep (50 intervals x 20 timeouts,
// 3 replicates) and renders the trade-off curve and heat map as PNG.
func BenchmarkSweep1000(b *testing.B) {
	var iv, to []float64
	for i := range 50 {
		iv = append(iv, float64(10+i*30))
	}
	for i := range 20 {
		to = append(to, float64(60+i*120))
	}
	dir := b.TempDir()
	writeSynthSweep(b, dir, iv, to, 3)
	for b.Loop() {
		if _, err := Render(dir, Options{OutDir: filepath.Join(dir, "out")}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRun100k renders every figure of a run with 100,000 devices
// (devices.csv of 100,000 rows, events.jsonl of 4.8 million lines).
func BenchmarkRun100k(b *testing.B) {
	dir := b.TempDir()
	writeSynthRun(b, dir, 100000)
	for b.Loop() {
		if _, err := Render(dir, Options{OutDir: filepath.Join(dir, "out")}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScanEvents measures streaming events.jsonl with the device
// pre-filter of the timeline.
func BenchmarkScanEvents(b *testing.B) {
	dir := b.TempDir()
	writeSynthRun(b, dir, 20000)
	p := filepath.Join(dir, EventsFile)
	for b.Loop() {
		f, _ := os.Open(p)
		n := 0
		if err := ScanEvents(f, p, []string{"fixed/6"}, func(Event) error { n++; return nil }); err != nil {
			b.Fatal(err)
		}
		f.Close()
		st, _ := os.Stat(p)
		b.SetBytes(st.Size())
	}
	_ = io.Discard
}
