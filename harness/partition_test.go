package harness

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/natsim/natsim/scenarios"
)

// TestPartitionsSplitTheRun checks what a partitioned run reports: every
// device once, in group order; events in time order with unique push
// ids; each partition's share of the shared NAT pool disjoint from the
// others' and together the whole pool; the NAT counters summed.
func TestPartitionsSplitTheRun(t *testing.T) {
	const n = 4
	s := small(t, "nat-reboot-storm.yaml", "groups.phones.count=37", "duration=7h", fmt.Sprintf("partitions=%d", n))
	r, err := buildRun(s, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.close()
	if len(r.parts) != n || !r.view {
		t.Fatalf("%d partitions (view %v), want %d", len(r.parts), r.view, n)
	}
	one, err := buildRun(small(t, "nat-reboot-storm.yaml", "groups.phones.count=37", "duration=7h"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	pool := one.layers[len(one.layers)-1].tables[0].Config().PublicAddrs
	one.close()
	var union []netip.Addr
	for k, p := range r.parts {
		got := p.layers[len(p.layers)-1].tables[0].Config().PublicAddrs
		for j, a := range got {
			if want := pool[k+j*n]; a != want {
				t.Errorf("partition %d: address %d is %v, want pool[%d] = %v", k, j, a, k+j*n, want)
			}
		}
		union = append(union, got...)
		if want := (37 - k + n - 1) / n; len(p.devs) != want {
			t.Errorf("partition %d holds %d devices, want %d", k, len(p.devs), want)
		}
	}
	slices.SortFunc(union, netip.Addr.Compare)
	sorted := slices.Clone(pool)
	slices.SortFunc(sorted, netip.Addr.Compare)
	if !slices.Equal(union, sorted) {
		t.Errorf("partitions' pools %v do not make up the pool %v", union, pool)
	}
	if err := r.run(context.Background()); err != nil {
		t.Fatal(err)
	}
	res, err := r.result()
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Devices) != 37 {
		t.Fatalf("%d device rows, want 37", len(res.Devices))
	}
	for i, d := range res.Devices {
		if want := fmt.Sprintf("phones/%d", i); d.Device != want {
			t.Fatalf("device row %d is %s, want %s", i, d.Device, want)
		}
	}
	var created uint64
	for _, p := range r.parts {
		for _, tb := range p.layers[len(p.layers)-1].tables {
			created += tb.Stats().Created
		}
	}
	cg := res.Summary.NATs[len(res.Summary.NATs)-1]
	if cg.MappingsCreated != created || created == 0 {
		t.Errorf("summary has %d mappings created at %s, the partitions' tables %d", cg.MappingsCreated, cg.Layer, created)
	}
	ids := map[uint64]bool{}
	for i, e := range res.events {
		if i > 0 && e.t < res.events[i-1].t {
			t.Fatalf("event %d at %v comes after one at %v", i, e.t, res.events[i-1].t)
		}
		if e.kind == "push_sent" {
			if ids[e.id] {
				t.Fatalf("push id %d sent twice", e.id)
			}
			ids[e.id] = true
		}
	}
	if len(ids) == 0 || res.Summary.Events != r.nevents || r.nevents < len(res.events) {
		t.Errorf("%d pushes sent, %d events counted, %d kept", len(ids), r.nevents, len(res.events))
	}
}

// TestPartitionsWithAndWithoutBarrier: partitions run their whole course
// apart unless Options.Step needs them all at each minute; both ways
// write the same bytes.
func TestPartitionsWithAndWithoutBarrier(t *testing.T) {
	tmp := t.TempDir()
	s := small(t, "watch-presence.yaml", "partitions=3")
	runTo(t, s, filepath.Join(tmp, "apart"))
	steps := 0
	res, err := Run(context.Background(), s, Options{Step: func(time.Duration) { steps++ }})
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Write(filepath.Join(tmp, "barrier")); err != nil {
		t.Fatal(err)
	}
	if want := int(s.Duration / time.Minute); steps != want {
		t.Errorf("Step called %d times, want %d", steps, want)
	}
	sameFiles(t, filepath.Join(tmp, "apart"), filepath.Join(tmp, "barrier"))
}

// TestPartitionedTimeseries checks that the view samples every
// partition: the connected devices of the timeseries reach the group.
func TestPartitionedTimeseries(t *testing.T) {
	res := runTo(t, small(t, "nat-reboot-storm.yaml", "groups.phones.count=23", "duration=7h", "partitions=3"), t.TempDir())
	peak := 0.0
	for _, s := range res.series {
		if s.metric == "connected_devices" {
			peak = max(peak, s.value)
		}
	}
	if peak != 23 {
		t.Fatalf("at most %v devices connected in the timeseries, want 23", peak)
	}
}

// TestPartitionErrors: what a partitioned run cannot do says so, naming
// the field.
func TestPartitionErrors(t *testing.T) {
	// cgnat-pba-tight holds 4 public addresses: not enough for 8 partitions.
	s := small(t, "cgnat-port-exhaustion.yaml", "partitions=8", "groups.phones.count=16")
	_, err := Run(context.Background(), s, Options{})
	if err == nil || !strings.Contains(err.Error(), "public_addresses: 4 cannot be split among 8 partitions") {
		t.Errorf("a pool of 4 among 8 partitions: got %v", err)
	}
	s = small(t, "nat-reboot-storm.yaml", "partitions=2", "groups.phones.count=4")
	_, err = Run(context.Background(), s, Options{Pcap: true})
	if err == nil || !strings.Contains(err.Error(), "partitions must be 1") {
		t.Errorf("a capture of a partitioned run: got %v", err)
	}
	const group = "groups: {g: {count: 4, network: lte, strategy: {name: fixed, interval: 15m}}}\n"
	for _, src := range []string{
		"name: p\nduration: 1h\npartitions: 2\nnetworks: {lte: {kind: cellular}}\n" + group + "outputs: {pcap: [g/0]}\n",
		"name: p\nduration: 10m\npartitions: 2\nclock: wall\nnetworks: {lte: {kind: cellular}}\n" + group,
		"name: p\nduration: 1h\npartitions: 0\nnetworks: {lte: {kind: cellular}}\n" + group,
		"name: p\nduration: 1h\npartitions: 1025\nnetworks: {lte: {kind: cellular}}\n" + group,
	} {
		_, err := (&scenarios.Loader{}).Load("p.yaml", []byte(src))
		if err == nil || !strings.HasPrefix(err.Error(), "p.yaml:3:") || !strings.Contains(err.Error(), "partitions") {
			t.Errorf("%q: got %v, want an error at p.yaml:3 naming partitions", src, err)
		}
	}
}

// TestPartitionedEventsFile checks that events.jsonl of a partitioned
// run reads as one run's: times never go back and push ids are unique.
func TestPartitionedEventsFile(t *testing.T) {
	dir := t.TempDir()
	runTo(t, small(t, "nat-reboot-storm.yaml", "groups.phones.count=19", "duration=7h", "partitions=4"), dir)
	b, err := os.ReadFile(filepath.Join(dir, EventsFile))
	if err != nil {
		t.Fatal(err)
	}
	last := -1.0
	sent := map[uint64]bool{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var e struct {
			T    float64 `json:"t_s"`
			Kind string  `json:"kind"`
			ID   uint64  `json:"id"`
		}
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatal(err)
		}
		if e.T < last {
			t.Fatalf("event at %v s after one at %v s", e.T, last)
		}
		last = e.T
		if e.Kind == "push_sent" {
			if sent[e.ID] {
				t.Fatalf("push id %d sent twice", e.ID)
			}
			sent[e.ID] = true
		}
	}
	if len(sent) == 0 {
		t.Fatal("no push sent")
	}
}

// TestPartitionWarnings: natsim validate says when a shared pool is too
// small to split, or when its smallest share cannot hold a partition's
// devices although the whole pool could hold them all.
func TestPartitionWarnings(t *testing.T) {
	cases := []struct {
		sets []string
		want string
	}{
		{[]string{"partitions=8"}, "4 public addresses cannot be split among 8 partitions"},
		// 600 phones, 9 addresses of 8 blocks: 72 subscribers in all is
		// too few anyway; 80 addresses hold 640, but 3 partitions get 26
		// addresses (208 subscribers) for up to 200 devices each: fine;
		// 7 partitions get 11 (88) for up to 86 each: fine; 9 get 8 (64)
		// for up to 67 each: not.
		{[]string{"networks.lte.nat[0].public_addresses=80", "partitions=9"}, "split among 9 partitions, its smallest share holds 64 subscribers but a partition has up to 67 devices"},
		{[]string{"networks.lte.nat[0].public_addresses=80", "partitions=7"}, ""},
	}
	for _, c := range cases {
		ws, err := Warnings(small(t, "cgnat-port-exhaustion.yaml", c.sets...))
		if err != nil {
			t.Fatal(err)
		}
		got := strings.Join(ws, "\n")
		if c.want == "" && len(ws) != 0 || c.want != "" && !strings.Contains(got, c.want) {
			t.Errorf("%v: warnings %q, want %q", c.sets, got, c.want)
		}
	}
}

// TestPartitionModel checks the scaling model on step times whose
// answer is known.
func TestPartitionModel(t *testing.T) {
	ms := time.Millisecond
	even := [][]time.Duration{{ms, ms, ms, ms}, {ms, ms, ms, ms}}
	if got := partitionModel(even, 8*ms, 2); math.Abs(got-2) > 1e-9 {
		t.Errorf("even steps on 2 cores: %v, want 2", got)
	}
	if got := partitionModel(even, 8*ms, 16); math.Abs(got-4) > 1e-9 {
		t.Errorf("4 partitions on 16 cores: %v, want 4", got)
	}
	// One slow partition bounds every step; 2 ms outside the steps stay serial.
	skew := [][]time.Duration{{3 * ms, ms, ms, ms}}
	if got := partitionModel(skew, 8*ms, 4); math.Abs(got-8.0/5) > 1e-9 {
		t.Errorf("a skewed step on 4 cores: %v, want 1.6", got)
	}
}

// TestPartitionedRunCancelled: a partitioned run stops when its context
// is cancelled, before or while its partitions run.
func TestPartitionedRunCancelled(t *testing.T) {
	s := small(t, "nat-reboot-storm.yaml", "groups.phones.count=400", "partitions=4")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Run(ctx, s, Options{}); err == nil || !strings.Contains(err.Error(), "cancelled") {
		t.Errorf("cancelled before: got %v", err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	if _, err := Run(ctx, s, Options{}); err == nil || !strings.Contains(err.Error(), "cancelled") {
		t.Errorf("cancelled while running: got %v", err)
	}
	if took := time.Since(t0); took > 10*time.Second {
		t.Errorf("the cancelled run took %v", took)
	}
}
