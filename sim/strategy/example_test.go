package strategy_test

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/natsim/natsim/sim/strategy"
)

// A WeChat smart heartbeat behind a NAT that forgets idle mappings after
// 500 s settles at 430 s.
func Example() {
	s, err := strategy.New("wechat-smart", strategy.Params{"max": "590s"}, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		fmt.Println(err)
		return
	}
	now := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	n := strategy.Network{Kind: "cellular", Label: "carrier-a"}
	s.Connected(now, n)
	for range 40 {
		a, _ := s.Next(now)
		now = now.Add(a.Latest)
		if a.Latest < 500*time.Second {
			s.Succeeded(now, a.Latest)
			continue
		}
		s.Failed(now, a.Latest)
		s.Disconnected(now)
		s.Connected(now, n)
	}
	fmt.Println(s.Interval())
	// Output: 7m10s
}

func ExampleAlarmModel() {
	m, _ := strategy.NewAlarmModel(strategy.FireLatest, true, nil)
	now := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	other := now.Add(200 * time.Second) // another app's alarm
	at, _ := m.FireAt(now, strategy.Alarm{Earliest: 150 * time.Second, Latest: 300 * time.Second}, []time.Time{other})
	fmt.Println(at.Sub(now))
	// Output: 3m20s
}
