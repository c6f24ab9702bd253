package plots

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gonum.org/v1/plot/cmpimg"
)

var update = flag.Bool("update", false, "rewrite the golden images under testdata/ from the current output")

// goldenDPI keeps golden PNGs small.
const goldenDPI = 96

// checkGolden renders f as PNG and compares it with
// testdata/<test name>.png: approximately (anti-aliasing may differ in the
// last bit across CPUs), via gonum's cmpimg.
func checkGolden(t *testing.T, f *Figure) {
	t.Helper()
	var buf bytes.Buffer
	if err := f.Encode(&buf, PNG, goldenDPI); err != nil {
		t.Fatal(err)
	}
	name := filepath.Join("testdata", strings.TrimPrefix(t.Name(), "Test")+"_golden.png")
	if *update {
		if err := os.WriteFile(name, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(name)
	if err != nil {
		t.Fatalf("%v (run go test ./plots -update to create it)", err)
	}
	ok, err := cmpimg.EqualApprox("png", buf.Bytes(), want, 0.02)
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		got := filepath.Join(t.TempDir(), filepath.Base(name))
		os.WriteFile(got, buf.Bytes(), 0o644)
		t.Errorf("%s differs from the golden image; output in %s (run with -update if the change is intended)", name, got)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
