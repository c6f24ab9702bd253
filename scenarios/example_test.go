package scenarios_test

import (
	"fmt"

	"github.com/natsim/natsim/scenarios"
)

func ExampleLoader_Load() {
	src := []byte(`name: demo
duration: 1h
networks:
  lte: {kind: cellular, nat: [{preset: carrier-aggressive}]}
groups:
  phones:
    count: 10
    network: lte
    strategy: {name: fixed, interval: 270s}
expect:
  - delivery_ratio@phones >= 0.999
`)
	l := &scenarios.Loader{Sets: []string{"groups.phones.strategy.interval=4m"}}
	s, err := l.Load("demo.yaml", src)
	if err != nil {
		fmt.Println(err)
		return
	}
	g := s.Groups["phones"]
	fmt.Println(g.Strategy.Name, g.Strategy.Params["interval"], s.Networks["lte"].NAT[0].Scope, s.Expect[0])
	// Output: fixed 4m shared delivery_ratio@phones >= 0.999
}

func ExampleParseExpectation() {
	e, err := scenarios.ParseExpectation("latency_s.p99@phones < 5")
	fmt.Println(e.Metric, e.Group, e.Op, e.Value, e.Holds(3.2), err)
	// Output: latency_s.p99 phones < 5 true <nil>
}

func ExampleLoad_errors() {
	_, err := scenarios.Load("bad.yaml", []byte("name: bad\nduration: 30\n"))
	fmt.Println(err)
	// Output:
	// bad.yaml:1:1: missing required field "groups"
	// bad.yaml:1:1: missing required field "networks"
	// bad.yaml:2:11: duration: duration "30" has no unit (write 30s, 30m, 30h or 30d)
}
