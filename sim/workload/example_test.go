package workload_test

import (
	"fmt"
	"time"

	"github.com/natsim/natsim/sim/workload"
)

// A broadcast to a group of three devices, delivered to two of them.
func Example() {
	start := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	times := []time.Time{start.Add(time.Hour)}
	var srcs []*workload.Source
	for d := range uint32(3) {
		b, _ := workload.NewBroadcast(times) // the slice is shared
		srcs = append(srcs, workload.NewSource(d, b))
	}
	l, _ := workload.NewLedger(10 * time.Minute)
	st := workload.NewStream(srcs)
	for n, ok := st.Next(); ok; n, ok = st.Next() {
		_ = l.Sent(n)
		if n.Device != 2 {
			l.Delivered(n.ID, n.Sent.Add(time.Duration(n.Device+1)*time.Second))
		}
	}
	s := l.Summary(start.Add(2 * time.Hour))
	fmt.Printf("sent %d lost %d ratio %.2f p50 %.0fs\n", s.Sent, s.Lost, s.DeliveryRatio, s.LatencyP50S)
	// Output: sent 3 lost 1 ratio 0.67 p50 1s
}
