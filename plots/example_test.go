package plots_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/natsim/natsim/plots"
)

// Render draws every figure a sweep directory supports.
func ExampleRender() {
	dir, _ := os.MkdirTemp("", "sweep")
	defer os.RemoveAll(dir)
	var b strings.Builder
	b.WriteString("point,groups.phones.strategy.interval,nats.cgnat.timeouts.tcp_established,group,metric,n,mean,ci95_lo,ci95_hi\n")
	p := 0
	for _, to := range []float64{120, 600} {
		for _, iv := range []float64{60, 300, 900} {
			d := 1.0
			if iv >= to {
				d = to / iv / 2
			}
			fmt.Fprintf(&b, "%d,%g,%g,phones,delivery_ratio,3,%g,%g,%g\n", p, iv, to, d, d-0.01, d)
			fmt.Fprintf(&b, "%d,%g,%g,phones,energy_j_per_device_day,3,%g,%g,%g\n", p, iv, to, 43200/iv, 43000/iv, 43400/iv)
			p++
		}
	}
	os.WriteFile(filepath.Join(dir, plots.SweepSummaryFile), []byte(b.String()), 0o644)
	files, err := plots.Render(dir, plots.Options{Format: plots.SVG})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, f := range files {
		fmt.Println(filepath.Base(f))
	}
	// Output:
	// tradeoff.svg
	// heatmap-phones.svg
}

// Knee finds the longest interval whose delivery ratio stays within the
// tolerance of the best.
func ExampleKnee() {
	intervals := []float64{60, 120, 240, 480, 900}
	delivery := []float64{0.999, 0.998, 0.995, 0.80, 0.40}
	k := plots.Knee(intervals, delivery, 0.01)
	fmt.Println(intervals[k])
	// Output: 240
}

// BuildTimelines and DeviceTimeline draw chosen devices from events.jsonl.
func ExampleDeviceTimeline() {
	events := `{"t_s":0,"kind":"conn_up","device":"phones/1"}
{"t_s":600,"kind":"conn_down","device":"phones/1","reason":"rst"}
`
	tls, err := plots.BuildTimelines(strings.NewReader(events), "events.jsonl", []string{"phones/1"}, 900, 0)
	if err != nil {
		fmt.Println(err)
		return
	}
	fig, _ := plots.DeviceTimeline(tls)
	fmt.Println(fig.Name, tls[0].Conns)
	// Output: timeline [{0 600 rst}]
}
