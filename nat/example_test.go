package nat_test

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/natsim/natsim/nat"
)

// A preset, overridden field by field, drives a table.
func ExamplePreset() {
	cfg := nat.Preset("cgnat-typical")
	cfg.TCP.Established = 300 * time.Second
	t, err := nat.New(cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(t.Name(), t.Config().TCP.Established, t.Config().Ports.BlockSize)
	// Output: cgnat-typical 5m0s 128
}

// Validate names the field that is wrong.
func ExampleConfig_Validate() {
	cfg := nat.Preset("linux-conntrack")
	cfg.UDP.Initial = 0
	fmt.Println(cfg.Validate())
	// Output: nat: config "linux-conntrack": UDP.Initial: must be positive, got 0s
}

// A NAT444 chain: a home router behind a CGN.
func ExampleChainPreset() {
	cfgs, _ := nat.ChainPreset("nat444-typical")
	chain, tables, _ := nat.NewChainFromConfigs(cfgs...)
	_, pending := chain.NextDeadline()
	fmt.Println(len(tables), tables[0].Name(), tables[1].Name(), pending)
	// Output: 2 home cgn false
}

// A device group is spread over a population of NATs.
func ExampleMixture_Sample() {
	m, _ := nat.LookupMixture("cn-mobile-2014")
	rng := rand.New(rand.NewPCG(1, 2))
	counts := map[string]int{}
	for range 1000 {
		counts[m.Sample(rng).Label]++
	}
	fmt.Println(counts["tcp-300s"] > 350 && counts["tcp-300s"] < 450)
	// Output: true
}
