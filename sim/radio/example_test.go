package radio_test

import (
	"fmt"
	"time"

	"github.com/natsim/natsim/sim/radio"
)

// One keep-alive on an idle LTE radio: promotion plus an 11.6 s tail,
// 12.3 J above the idle paging it replaces (12.6 J above the base).
func Example() {
	p, _ := radio.PresetByName("lte-huang2012")
	start := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	d, _ := radio.New(p, start)
	d.Packet(start.Add(time.Minute), true, 66, radio.CauseKeepAlive)
	d.Packet(start.Add(time.Minute+50*time.Millisecond), false, 66, radio.CauseKeepAlive)
	r := d.Report(start.Add(2 * time.Minute))
	fmt.Printf("keep-alive %.1f J, on %v, wakeups %d\n", r.ByCauseJ[radio.CauseKeepAlive], r.OnTime, r.Wakeups)
	// Output: keep-alive 12.3 J, on 11.836s, wakeups 1
}
