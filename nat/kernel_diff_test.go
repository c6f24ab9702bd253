package nat_test

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/natsim/natsim/nat"
	"github.com/natsim/natsim/nat/kerneltest"
)

// The timeouts both worlds run with: the kernel through its per-namespace
// sysctls, the model through the linux-conntrack preset's Config fields.
// They are seconds instead of minutes and days so the test takes about
// 40 s; the script probes just below and just above each of them.
var kernelTimeouts = []struct {
	sysctl string
	value  time.Duration
	apply  func(c *nat.Config, d time.Duration)
}{
	{"nf_conntrack_tcp_timeout_syn_sent", 3 * time.Second, func(c *nat.Config, d time.Duration) { c.TCP.SynSent = d }},
	{"nf_conntrack_tcp_timeout_syn_recv", 3 * time.Second, func(c *nat.Config, d time.Duration) { c.TCP.SynRecv = d }},
	{"nf_conntrack_tcp_timeout_established", 3 * time.Second, func(c *nat.Config, d time.Duration) { c.TCP.Established = d }},
	{"nf_conntrack_tcp_timeout_fin_wait", 3 * time.Second, func(c *nat.Config, d time.Duration) { c.TCP.FinWait = d }},
	{"nf_conntrack_tcp_timeout_close_wait", 3 * time.Second, func(c *nat.Config, d time.Duration) { c.TCP.CloseWait = d }},
	{"nf_conntrack_tcp_timeout_last_ack", 3 * time.Second, func(c *nat.Config, d time.Duration) { c.TCP.LastAck = d }},
	{"nf_conntrack_tcp_timeout_time_wait", 3 * time.Second, func(c *nat.Config, d time.Duration) { c.TCP.TimeWait = d }},
	{"nf_conntrack_tcp_timeout_close", 2 * time.Second, func(c *nat.Config, d time.Duration) { c.TCP.Close = d }},
	// Longer than anything the script waits: every segment is acknowledged
	// before an idle period, so these caps never apply in either world.
	{"nf_conntrack_tcp_timeout_unacknowledged", 30 * time.Second, func(c *nat.Config, d time.Duration) { c.TCP.Unacknowledged = d }},
	{"nf_conntrack_tcp_timeout_max_retrans", 30 * time.Second, func(c *nat.Config, d time.Duration) { c.TCP.MaxRetrans = d }},
	{"nf_conntrack_udp_timeout", 4 * time.Second, func(c *nat.Config, d time.Duration) { c.UDP.Initial = d }},
	{"nf_conntrack_udp_timeout_stream", 7 * time.Second, func(c *nat.Config, d time.Duration) { c.UDP.Established = d }},
	{"nf_conntrack_icmp_timeout", 2 * time.Second, func(c *nat.Config, d time.Duration) { c.ICMP.Timeout = d }},
}

// kernelFlags are the conntrack switches the lab sets explicitly, at
// their defaults, so the test does not depend on the host's values. The
// preset models exactly these: loose pickup on, strict window tracking.
var kernelFlags = []kerneltest.Sysctl{
	{Name: "nf_conntrack_tcp_loose", Value: 1},
	{Name: "nf_conntrack_tcp_be_liberal", Value: 0},
	{Name: "nf_conntrack_tcp_max_retrans", Value: 3},
	{Name: "nf_conntrack_checksum", Value: 1},
}

// knownKernelDifferences lists the steps whose fate differs between the
// kernel and the model on purpose, each with the reason (the same as in
// docs/nat-kernel-diff.md). Any other difference fails the test, and so
// does a listed step whose fates now agree, so the list stays true.
var knownKernelDifferences = map[string]string{}

// TestKernelDifferential sends the same scripted packets through the
// Linux kernel's NAT (network namespaces, masquerade, conntrack with
// shortened timeouts) and through the linux-conntrack preset, and
// compares every packet's fate. It needs root, iproute2, ethtool and
// nftables or iptables; .ci/kernel-deps.sh installs them. With CI=true a
// missing requirement fails the test instead of skipping it.
func TestKernelDifferential(t *testing.T) {
	useNft := kerneltest.Gate(t, "kernel differential test", false, 40*time.Second)

	timing := kerneltest.Timing{
		TCPEstablished: timeoutOf(t, "nf_conntrack_tcp_timeout_established"),
		TCPClose:       timeoutOf(t, "nf_conntrack_tcp_timeout_close"),
		UDPUnreplied:   timeoutOf(t, "nf_conntrack_udp_timeout"),
		UDPStream:      timeoutOf(t, "nf_conntrack_udp_timeout_stream"),
		UDPStreamAge:   2 * time.Second, // fixed in the kernel: stream_ts = jiffies + 2*HZ
		ICMP:           timeoutOf(t, "nf_conntrack_icmp_timeout"),
		Margin:         time.Second,
	}
	if err := timing.Validate(); err != nil {
		t.Fatal(err)
	}

	cfg := linuxConntrackConfig(t)
	model, err := nat.New(cfg)
	if err != nil {
		t.Fatalf("nat.New(linux-conntrack with the test's timeouts): %v", err)
	}

	sysctls := append([]kerneltest.Sysctl(nil), kernelFlags...)
	for _, k := range kernelTimeouts {
		sysctls = append(sysctls, kerneltest.Sysctl{Name: k.sysctl, Value: int(k.value / time.Second)})
	}
	lab := kerneltest.Build(t, kerneltest.Options{Nft: useNft, Sysctls: sysctls})

	mw := &modelWorld{table: model, t0: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), log: t.Logf}
	steps := kerneltest.Steps(timing)
	results, err := kerneltest.Run(steps, []kerneltest.World{
		&kerneltest.Kernel{Lab: lab, Window: 150 * time.Millisecond},
		mw,
	})
	if err != nil {
		t.Fatalf("running the script: %v", err)
	}
	if len(results) != len(steps) {
		t.Fatalf("script ran %d of %d steps", len(results), len(steps))
	}

	var table strings.Builder
	table.WriteString("| step | at | kernel | model | verdict |\n|---|---|---|---|---|\n")
	seen := map[string]bool{}
	for _, row := range results {
		k, m := row[0], row[1]
		seen[k.Step] = true
		reason, known := knownKernelDifferences[k.Step]
		verdict := "same"
		switch {
		case k.Fate != m.Fate && known:
			verdict = "known difference: " + reason
		case k.Fate != m.Fate:
			verdict = "DIFFERENT"
			t.Errorf("step %q at %.2fs: fates differ\n  kernel: %s\n  model:  %s", k.Step, k.At.Seconds(), k.Fate, m.Fate)
		case known:
			verdict = "AGREES (remove from known differences)"
			t.Errorf("step %q is listed as a known difference (%s) but both worlds now agree: %s; remove it from knownKernelDifferences and docs/nat-kernel-diff.md", k.Step, reason, k.Fate)
		}
		fmt.Fprintf(&table, "| %s | %.1fs | %s | %s | %s |\n", k.Step, k.At.Seconds(), k.Fate, m.Fate, verdict)
	}
	for step := range knownKernelDifferences {
		if !seen[step] {
			t.Errorf("knownKernelDifferences names step %q, which the script does not have", step)
		}
	}
	t.Logf("kernel vs model, step by step:\n%s", table.String())
	if t.Failed() {
		if ct := lab.Conntrack(); ct != "" {
			t.Logf("kernel conntrack table at the end:\n%s", ct)
		}
	}
}

// timeoutOf returns the value the test sets for sysctl.
func timeoutOf(t *testing.T, sysctl string) time.Duration {
	t.Helper()
	for _, k := range kernelTimeouts {
		if k.sysctl == sysctl {
			return k.value
		}
	}
	t.Fatalf("no timeout for %s in kernelTimeouts", sysctl)
	return 0
}

// linuxConntrackConfig returns the linux-conntrack preset with the lab's
// public address and the test's timeouts.
func linuxConntrackConfig(t *testing.T) nat.Config {
	t.Helper()
	cfg := nat.Preset("linux-conntrack")
	cfg.PublicAddrs = []netip.Addr{kerneltest.PublicAddr}
	for _, k := range kernelTimeouts {
		k.apply(&cfg, k.value)
	}
	return cfg
}

// modelWorld runs the script through a nat.Table, with virtual time equal
// to the script's real elapsed time.
type modelWorld struct {
	table *nat.Table
	t0    time.Time
	log   func(format string, args ...any)
}

func (m *modelWorld) Name() string { return "model" }

func (m *modelWorld) Idle(at time.Duration) ([]kerneltest.Emitted, error) {
	now := m.t0.Add(at)
	var out []kerneltest.Emitted
	if d, ok := m.table.NextDeadline(); ok && !d.After(now) {
		for _, p := range m.table.Expire(now) {
			out = append(out, emitted(p))
		}
	}
	return out, nil
}

func (m *modelWorld) Send(at time.Duration, from kerneltest.Side, pkt []byte) ([]kerneltest.Emitted, error) {
	dir, far := nat.Outbound, kerneltest.Outside
	if from == kerneltest.Outside {
		dir, far = nat.Inbound, kerneltest.Inside
	}
	buf := append([]byte(nil), pkt...)
	v := m.table.Process(m.t0.Add(at), dir, buf)
	var out []kerneltest.Emitted
	if v.Forward {
		out = append(out, kerneltest.Emitted{Side: far, Forwarded: true, Pkt: buf})
	} else {
		m.log("model: %s packet at %.2fs dropped (%s)", dir, at.Seconds(), v.Drop)
	}
	for _, p := range v.Generated {
		out = append(out, emitted(p))
	}
	return out, nil
}

// emitted places a generated packet on the side it travels towards.
func emitted(p nat.Packet) kerneltest.Emitted {
	side := kerneltest.Outside
	if p.Dir == nat.Inbound {
		side = kerneltest.Inside
	}
	return kerneltest.Emitted{Side: side, Pkt: p.Data}
}
