package harness_test

import (
	"context"
	"fmt"

	"github.com/natsim/natsim/harness"
	"github.com/natsim/natsim/scenarios"
)

// Run the quickstart scenario, scaled down with --set style overrides, and
// read a group's results.
func ExampleRun() {
	s, err := (&scenarios.Loader{Sets: []string{"groups.phones.count=5", "duration=1h"}}).LoadFile("../scenarios/quickstart.yaml")
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := harness.Run(context.Background(), s, harness.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	g := res.Group("phones")
	fmt.Println(g.Devices, "devices, reconnects:", g.Reconnects, "pass:", res.Summary.Pass)
	// Output: 5 devices, reconnects: 0 pass: true
}
