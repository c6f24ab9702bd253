package push_test

import (
	"fmt"
	"time"

	"github.com/natsim/natsim/sim"
	"github.com/natsim/natsim/sim/push"
)

// The microG preset reproduces microG's reconnect sequence.
func ExampleMicroGBackoff() {
	b := push.MicroGBackoff()
	for k := 0; k < 9; k++ {
		fmt.Print(b.Base(k), " ")
	}
	fmt.Println()
	// Output: 5s 15s 25s 35s 45s 55s 1m0s 2m0s 3m0s
}

// An APNs-like server keeps one push per topic for an offline device.
func ExampleServer_Publish() {
	clock := sim.NewScheduler(time.Time{})
	srv, err := push.NewServer(clock, push.ServerConfig{Offline: push.KeepLast})
	if err != nil {
		panic(err)
	}
	for i := 0; i < 3; i++ {
		if _, err := srv.Publish("phone-1", "devices/phone-1", []byte("news"), 1, time.Hour); err != nil {
			panic(err)
		}
	}
	st := srv.Stats()
	fmt.Println("stored:", st.Stored, "replaced:", st.Dropped[push.DropReplaced])
	// Output: stored: 1 replaced: 2
}
