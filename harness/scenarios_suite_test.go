package harness

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/natsim/natsim/scenarios"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// TestScenarios is the CI suite: one spec per file of the scenario library,
// labelled "scenario" plus the values of the file's labels (e.g. "smoke",
// "nightly", "sweep"). A single run must pass its expectations; a sweep
// runs its whole grid with one replicate (NATSIM_FULL_SWEEPS=1 keeps the
// file's replicates) and every run must pass.
//
//	go tool ginkgo -p --label-filter=scenario --junit-report=junit.xml --json-report=report.json ./harness
func TestScenarios(t *testing.T) {
	RegisterFailHandler(Fail)
	files, err := filepath.Glob(filepath.Join("..", "scenarios", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(files)
	Describe("scenario library", func() {
		for _, f := range files {
			base := filepath.Base(f)
			// Labels need the file; a file that does not load still gets
			// a spec, which fails with the loader's errors.
			labels := Label("scenario")
			s, loadErr := (&scenarios.Loader{}).LoadFile(f)
			if loadErr == nil {
				var ls []string
				for _, k := range sortedKeys(s.Labels) {
					ls = append(ls, s.Labels[k])
				}
				if s.Sweep != nil {
					ls = append(ls, "sweep")
				}
				labels = Label(append([]string{"scenario"}, ls...)...)
			}
			It(base, labels, func(ctx SpecContext) {
				Expect(loadErr).NotTo(HaveOccurred(), "loading %s", base)
				if s.Sweep == nil {
					res, err := Run(ctx, s, Options{})
					Expect(err).NotTo(HaveOccurred())
					Expect(res.Write(filepath.Join(GinkgoT().TempDir(), s.Name))).To(Succeed())
					Expect(res).To(PassExpectations(), "%s", base)
					return
				}
				sets := []string{"sweep.replicates=1"}
				if os.Getenv("NATSIM_FULL_SWEEPS") != "" {
					sets = nil
				}
				reduced, err := (&scenarios.Loader{Sets: sets}).LoadFile(f)
				Expect(err).NotTo(HaveOccurred())
				sum, err := Sweep(ctx, reduced, GinkgoT().TempDir(), SweepOptions{Workers: 1})
				Expect(err).NotTo(HaveOccurred())
				Expect(sum.Failed).To(BeZero(), "%d of %d sweep runs failed their expectations", sum.Failed, sum.Runs)
			}, SpecTimeout(4*time.Minute))
		}
	})
	RunSpecs(t, "natsim scenario library")
}
