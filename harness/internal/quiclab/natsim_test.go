package quiclab

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/pcapgo"
	"github.com/natsim/natsim/harness"
	"github.com/natsim/natsim/scenarios"
)

var updateGolden = flag.Bool("update-kernel-stories", false, "rewrite testdata/kernel-stories.json from this run of the kernel lab (needs root)")

// goldenPath holds the stories as the kernel lab measured them (Summary
// per story), so that natsim's side is checked against Linux on every
// run, also where the lab cannot run.
const goldenPath = "testdata/kernel-stories.json"

// agreeTol is how far a natsim time may be from the kernel's: the
// stories' features are 2 s or more apart; the worlds differ by quic-go's
// post-handshake traffic (MTU probes, ACK delays), below 0.3 s, and the
// kernel's times that conntrack reports can be up to ctSlack late.
const agreeTol = time.Second

// simScenario renders story s as a natsim scenario on the lab's timers:
// one phone behind linux-conntrack with the same UDP timeouts, QUIC with
// the same idle timeout, the PING interval as a fixed strategy (none
// without keep-alives), pushes as broadcasts and each forget as a
// nat-reboot. Every time is shifted by offset, the instant natsim starts
// the phone's client (seeded, in the first second), so that both worlds
// count from the dial.
func simScenario(s Story, offset time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "name: quiclab-%s\nseed: 1\nduration: %v\n", s.Name, s.End+offset)
	fmt.Fprintf(&b, `networks:
  lab:
    kind: ethernet
    access: {latency: 0s, jitter: 0s}
    core: {latency: 0s, jitter: 0s}
    nat:
      - preset: linux-conntrack
        scope: per-device
        overrides: {udp: {initial: %v, established: %v}}
`, udpTimeout, udpStreamTimeout)
	strategy := "{name: none}"
	if s.KeepAlive > 0 {
		strategy = fmt.Sprintf("{name: fixed, interval: %v}", s.KeepAlive)
	}
	fmt.Fprintf(&b, `groups:
  phone:
    count: 1
    network: lab
    strategy: %s
    transport: {name: quic, idle_timeout: %v, server_idle_timeout: %v}
    alarm: {model: exact}
`, strategy, s.IdleTimeout, s.IdleTimeout)
	var pushes, reboots []string
	for _, st := range s.Steps {
		switch st.Action {
		case ServerPush:
			pushes = append(pushes, (st.At + offset).String())
		case ForgetMapping:
			reboots = append(reboots, fmt.Sprintf("  - {at: %v, type: nat-reboot, network: lab}\n", st.At+offset))
		}
	}
	if len(pushes) > 0 {
		fmt.Fprintf(&b, "workload:\n  phone:\n    broadcast: {at: [%s]}\n    qos: 1\n", strings.Join(pushes, ", "))
	}
	if len(reboots) > 0 {
		b.WriteString("timeline:\n" + strings.Join(reboots, ""))
	}
	b.WriteString("outputs: {formats: [json, jsonl]}\n")
	return b.String()
}

// simRun is one natsim run's events and the phone's datagrams (from its
// capture).
type simRun struct {
	events    []simEvent
	datagrams []Datagram
}

type simEvent struct {
	T      float64 `json:"t_s"`
	Kind   string  `json:"kind"`
	Reason string  `json:"reason"`
	ID     uint64  `json:"id"`
}

func runSim(t *testing.T, yaml string) simRun {
	t.Helper()
	sc, err := scenarios.Load("quiclab.yaml", []byte(yaml))
	if err != nil {
		t.Fatalf("scenario:\n%s\n%v", yaml, err)
	}
	res, err := harness.Run(context.Background(), sc, harness.Options{Pcap: true})
	if err != nil {
		t.Fatalf("natsim run: %v", err)
	}
	dir := t.TempDir()
	if err := res.Write(dir); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, "events.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out simRun
	sc2 := bufio.NewScanner(f)
	for sc2.Scan() {
		var e simEvent
		if err := json.Unmarshal(sc2.Bytes(), &e); err != nil {
			t.Fatalf("events.jsonl: %v", err)
		}
		out.events = append(out.events, e)
	}
	pcap, err := os.ReadFile(filepath.Join(dir, harness.PcapFile))
	if err != nil {
		t.Fatal(err)
	}
	if out.datagrams, err = simDatagrams(pcap); err != nil {
		t.Fatalf("%s: %v", harness.PcapFile, err)
	}
	return out
}

// simDatagrams reads natsim's capture of the phone: the datagrams the
// phone ("phone/0") and the server ("server") sent, whether each reached
// the other end (the same UDP payload seen there within 50 ms: natsim's
// links here have no delay), and the client's public port as the server
// saw it. Times count from the first packet, the phone's first Initial.
func simDatagrams(pcap []byte) ([]Datagram, error) {
	r, err := pcapgo.NewNgReader(bytes.NewReader(pcap), pcapgo.DefaultNgReaderOptions)
	if err != nil {
		return nil, err
	}
	type seen struct {
		at   time.Time
		intf string
		d    datagram
	}
	var pkts []seen
	for {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		in, err := r.Interface(ci.InterfaceIndex)
		if err != nil {
			return nil, err
		}
		if d, ok := parseUDP(data); ok {
			pkts = append(pkts, seen{ci.Timestamp, in.Name, d})
		}
	}
	if len(pkts) == 0 {
		return nil, errors.New("no UDP packets captured")
	}
	t0 := pkts[0].at
	arrival := func(p seen, intf string) (seen, bool) {
		for _, q := range pkts {
			if q.intf == intf && !q.at.Before(p.at) && q.at.Sub(p.at) <= 50*time.Millisecond && bytes.Equal(q.d.payload, p.d.payload) {
				return q, true
			}
		}
		return seen{}, false
	}
	var out []Datagram
	for _, p := range pkts {
		switch {
		case p.intf == "phone/0" && p.d.dst.Addr() == harness.ServerAddr:
			q, ok := arrival(p, "server")
			out = append(out, Datagram{At: p.at.Sub(t0), Size: len(p.d.payload), PublicPort: q.d.src.Port(), Passed: ok})
		case p.intf == "server" && p.d.src.Addr() == harness.ServerAddr:
			_, ok := arrival(p, "phone/0")
			out = append(out, Datagram{At: p.at.Sub(t0), FromServer: true, Size: len(p.d.payload), PublicPort: p.d.dst.Port(), Passed: ok})
		}
	}
	return out, nil
}

// simulate runs story s in natsim, aligned on the phone's dial, and
// condenses it like the kernel's.
func simulate(t *testing.T, s Story) (Summary, string) {
	t.Helper()
	// First run: when does natsim start the phone? The first mapping is
	// made by its first Initial.
	offset := dialAt(t, runSim(t, simScenario(s, 0)))
	yaml := simScenario(s, offset)
	run := runSim(t, yaml)
	return summarizeSim(run, offset), yaml
}

// dialAt is when the phone's first packet made its first mapping.
func dialAt(t *testing.T, run simRun) time.Duration {
	t.Helper()
	i := slices.IndexFunc(run.events, func(e simEvent) bool { return e.Kind == "mapping_created" })
	if i < 0 {
		t.Fatal("natsim: the phone never created a mapping")
	}
	return time.Duration(run.events[i].T * float64(time.Second))
}

// summarizeSim condenses natsim's events in the kernel's terms, with
// times counted from offset.
func summarizeSim(run simRun, offset time.Duration) Summary {
	at := func(e simEvent) time.Duration {
		return time.Duration(e.T*float64(time.Second)) - offset
	}
	var s Summary
	s.AddDatagrams(run.datagrams)
	sent := map[uint64]int{}
	for _, e := range run.events {
		switch e.Kind {
		case "keepalive_sent":
			s.Pings++
		case "mapping_created":
			s.Mappings = append(s.Mappings, Mapping{Created: at(e)})
		case "mapping_expired":
			if n := len(s.Mappings); n > 0 && s.Mappings[n-1].Gone == 0 {
				s.Mappings[n-1].Gone = at(e)
			}
		case "push_sent":
			sent[e.ID] = len(s.Pushes)
			s.Pushes = append(s.Pushes, Push{Sent: at(e)})
		case "push_delivered":
			if i, ok := sent[e.ID]; ok && s.Pushes[i].Delivered == 0 {
				s.Pushes[i].Delivered = at(e)
			}
		case "quic_path_migrated":
			s.Migrations = append(s.Migrations, at(e))
		case "quic_idle_timeout":
			if s.ClientClosed == 0 {
				s.ClientClosed = at(e)
			}
		}
	}
	return s
}

// agree compares a natsim summary with the kernel's up to the horizon:
// the first idle close of the client if there is one (natsim's client
// then reconnects, quic-go's does not), else the story's end. Server-side
// closes are not compared: natsim's server connection is taken over by
// the reconnection before its idle timeout. Public port numbers are not
// compared (each world picks its own), only when a new one appears.
func agree(kernel, sim Summary, end time.Duration) []string {
	var diffs []string
	near := func(what string, k, s time.Duration) {
		if (k - s).Abs() > agreeTol {
			diffs = append(diffs, fmt.Sprintf("%s: kernel %.2fs, natsim %.2fs", what, k.Seconds(), s.Seconds()))
		}
	}
	// both compares two optional times (0: did not happen).
	both := func(what string, k, s time.Duration) {
		if (k == 0) != (s == 0) {
			diffs = append(diffs, fmt.Sprintf("%s: kernel %s, natsim %s", what, opt(k), opt(s)))
			return
		}
		near(what, k, s)
	}
	both("client idle close", kernel.ClientClosed, sim.ClientClosed)
	horizon := end
	for _, c := range []time.Duration{kernel.ClientClosed, sim.ClientClosed} {
		if c != 0 && c < horizon {
			horizon = c
		}
	}
	upTo := func(d time.Duration) time.Duration {
		if d > horizon {
			return 0
		}
		return d
	}
	km := slices.DeleteFunc(slices.Clone(kernel.Mappings), func(m Mapping) bool { return m.Created > horizon })
	sm := slices.DeleteFunc(slices.Clone(sim.Mappings), func(m Mapping) bool { return m.Created > horizon })
	if len(km) != len(sm) {
		diffs = append(diffs, fmt.Sprintf("mappings made before %.2fs: kernel %d, natsim %d", horizon.Seconds(), len(km), len(sm)))
	} else {
		for i := range km {
			near(fmt.Sprintf("mapping %d created", i+1), km[i].Created, sm[i].Created)
			both(fmt.Sprintf("mapping %d gone", i+1), upTo(km[i].Gone), upTo(sm[i].Gone))
		}
	}
	if len(kernel.Pushes) != len(sim.Pushes) {
		diffs = append(diffs, fmt.Sprintf("pushes: kernel %d, natsim %d", len(kernel.Pushes), len(sim.Pushes)))
	} else {
		for i := range kernel.Pushes {
			near(fmt.Sprintf("push %d sent", i+1), kernel.Pushes[i].Sent, sim.Pushes[i].Sent)
			both(fmt.Sprintf("push %d delivered", i+1), upTo(kernel.Pushes[i].Delivered), upTo(sim.Pushes[i].Delivered))
		}
	}
	// Which server datagrams pass: none from the first drop until the
	// first that passes again (the count differs: quic-go sends two
	// datagrams per probe).
	both("server datagrams dropped from", upTo(kernel.DropsFrom), upTo(sim.DropsFrom))
	both("server datagrams pass again at", upTo(kernel.DropsUntil), upTo(sim.DropsUntil))
	// Port numbers differ between the worlds (each picks its own); what
	// must agree is when the server sees the client from a new one.
	kp := slices.DeleteFunc(slices.Clone(kernel.PublicPorts), func(p PublicPort) bool { return p.At > horizon })
	sp := slices.DeleteFunc(slices.Clone(sim.PublicPorts), func(p PublicPort) bool { return p.At > horizon })
	if len(kp) != len(sp) {
		diffs = append(diffs, fmt.Sprintf("public ports the server saw before %.2fs: kernel %v, natsim %v", horizon.Seconds(), kp, sp))
	} else {
		for i := range kp {
			near(fmt.Sprintf("public port %d first seen", i+1), kp[i].At, sp[i].At)
		}
	}
	km2 := slices.DeleteFunc(slices.Clone(kernel.Migrations), func(d time.Duration) bool { return d > horizon })
	sm2 := slices.DeleteFunc(slices.Clone(sim.Migrations), func(d time.Duration) bool { return d > horizon })
	if len(km2) != len(sm2) {
		diffs = append(diffs, fmt.Sprintf("migrations before %.2fs: kernel %v, natsim %v", horizon.Seconds(), km2, sm2))
	} else {
		for i := range km2 {
			near(fmt.Sprintf("migration %d", i+1), km2[i], sm2[i])
		}
	}
	// quic-go counts its PING interval from the last packet received,
	// natsim's fixed strategy from the last PING: one PING either way.
	if d := kernel.Pings - sim.Pings; d < -1 || d > 1 {
		diffs = append(diffs, fmt.Sprintf("PINGs: kernel %d, natsim %d", kernel.Pings, sim.Pings))
	}
	return diffs
}

// goldenStory is a Summary as testdata stores it: times in seconds,
// rounded to the millisecond, 0 for "did not happen".
type goldenStory struct {
	Pings    int `json:"pings"`
	Mappings []struct {
		CreatedS   float64 `json:"created_s"`
		GoneS      float64 `json:"gone_s"`
		PublicPort uint16  `json:"public_port"`
	} `json:"mappings"`
	Pushes []struct {
		SentS      float64 `json:"sent_s"`
		DeliveredS float64 `json:"delivered_s"`
	} `json:"pushes"`
	Dropped     int     `json:"server_datagrams_dropped"`
	DropsFromS  float64 `json:"drops_from_s"`
	DropsUntilS float64 `json:"drops_until_s"`
	PublicPorts []struct {
		Port   uint16  `json:"port"`
		FirstS float64 `json:"first_seen_s"`
	} `json:"public_ports"`
	MigrationsS   []float64 `json:"migrations_s"`
	ClientClosedS float64   `json:"client_idle_close_s"`
	ServerClosedS float64   `json:"server_idle_close_s"`
}

func secs(d time.Duration) float64 { return float64(d.Milliseconds()) / 1000 }

func dur(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func toGolden(s Summary) goldenStory {
	g := goldenStory{Pings: s.Pings, Dropped: s.Dropped, DropsFromS: secs(s.DropsFrom), DropsUntilS: secs(s.DropsUntil),
		ClientClosedS: secs(s.ClientClosed), ServerClosedS: secs(s.ServerClosed)}
	for _, p := range s.PublicPorts {
		g.PublicPorts = append(g.PublicPorts, struct {
			Port   uint16  `json:"port"`
			FirstS float64 `json:"first_seen_s"`
		}{p.Port, secs(p.At)})
	}
	g.Mappings = make([]struct {
		CreatedS   float64 `json:"created_s"`
		GoneS      float64 `json:"gone_s"`
		PublicPort uint16  `json:"public_port"`
	}, len(s.Mappings))
	for i, m := range s.Mappings {
		g.Mappings[i].CreatedS, g.Mappings[i].GoneS, g.Mappings[i].PublicPort = secs(m.Created), secs(m.Gone), m.PublicPort
	}
	g.Pushes = make([]struct {
		SentS      float64 `json:"sent_s"`
		DeliveredS float64 `json:"delivered_s"`
	}, len(s.Pushes))
	for i, p := range s.Pushes {
		g.Pushes[i].SentS, g.Pushes[i].DeliveredS = secs(p.Sent), secs(p.Delivered)
	}
	g.MigrationsS = []float64{}
	for _, m := range s.Migrations {
		g.MigrationsS = append(g.MigrationsS, secs(m))
	}
	return g
}

func (g goldenStory) summary() Summary {
	s := Summary{Pings: g.Pings, Dropped: g.Dropped, DropsFrom: dur(g.DropsFromS), DropsUntil: dur(g.DropsUntilS),
		ClientClosed: dur(g.ClientClosedS), ServerClosed: dur(g.ServerClosedS)}
	for _, p := range g.PublicPorts {
		s.PublicPorts = append(s.PublicPorts, PublicPort{Port: p.Port, At: dur(p.FirstS)})
	}
	for _, m := range g.Mappings {
		s.Mappings = append(s.Mappings, Mapping{Created: dur(m.CreatedS), Gone: dur(m.GoneS), PublicPort: m.PublicPort})
	}
	for _, p := range g.Pushes {
		s.Pushes = append(s.Pushes, Push{Sent: dur(p.SentS), Delivered: dur(p.DeliveredS)})
	}
	for _, m := range g.MigrationsS {
		s.Migrations = append(s.Migrations, dur(m))
	}
	return s
}

// loadGolden reads the kernel stories recorded by the last
// -update-kernel-stories run.
func loadGolden(t *testing.T) map[string]Summary {
	t.Helper()
	data, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatalf("%v (record it, as root, with: go test -run TestQUICThroughLinuxNAT ./harness/internal/quiclab/ -args -update-kernel-stories)", err)
	}
	var g map[string]goldenStory
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatalf("%s: %v", goldenPath, err)
	}
	out := map[string]Summary{}
	for name, s := range g {
		out[name] = s.summary()
	}
	return out
}

// writeGolden records the kernel's stories.
func writeGolden(t *testing.T, stories map[string]Summary) {
	t.Helper()
	g := map[string]goldenStory{}
	for name, s := range stories {
		g[name] = toGolden(s)
	}
	data, err := json.MarshalIndent(g, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(goldenPath), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(goldenPath, append(data, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestNatsimTellsTheKernelStory simulates every lab story in natsim and
// compares it with the story the kernel lab measured (testdata). It runs
// everywhere; TestQUICThroughLinuxNAT compares with a live kernel too.
func TestNatsimTellsTheKernelStory(t *testing.T) {
	golden := loadGolden(t)
	for _, s := range labStories {
		t.Run(s.Name, func(t *testing.T) {
			k, ok := golden[s.Name]
			if !ok {
				t.Fatalf("%s has no story %q; record it again", goldenPath, s.Name)
			}
			sim, yaml := simulate(t, s)
			if diffs := agree(k, sim, s.End); len(diffs) > 0 {
				t.Errorf("natsim tells another story than Linux:\n  %s\nkernel: %s\nnatsim: %s\nscenario:\n%s", strings.Join(diffs, "\n  "), k, sim, yaml)
			} else {
				t.Logf("kernel: %s\nnatsim: %s", k, sim)
			}
		})
	}
}

// TestAgreeSeesAnotherStory checks that the comparison fails when natsim
// is told another story than the lab's: a server that does not migrate
// (the push never arrives, the client dies at its idle timeout instead),
// and PINGs where the lab sent none (the mapping never expires).
func TestAgreeSeesAnotherStory(t *testing.T) {
	golden := loadGolden(t)
	for _, tc := range []struct {
		story, from, to, want string
	}{
		{"rebinding", "server_idle_timeout: 30s}", "server_idle_timeout: 30s, migration: false}", "migrations"},
		{"no-keepalive", "strategy: {name: none}", "strategy: {name: fixed, interval: 5s}", "mapping 1 gone"},
	} {
		t.Run(tc.story, func(t *testing.T) {
			i := slices.IndexFunc(labStories, func(s Story) bool { return s.Name == tc.story })
			s := labStories[i]
			yaml := strings.Replace(simScenario(s, 0), tc.from, tc.to, 1)
			if !strings.Contains(yaml, tc.to) {
				t.Fatalf("scenario has no %q to change", tc.from)
			}
			run := runSim(t, yaml)
			diffs := agree(golden[s.Name], summarizeSim(run, dialAt(t, run)), s.End)
			if !slices.ContainsFunc(diffs, func(d string) bool { return strings.HasPrefix(d, tc.want) }) {
				t.Errorf("changed scenario (%s): differences %q, want one about %q", tc.to, diffs, tc.want)
			}
		})
	}
}
