package quiclab

import (
	"flag"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/natsim/natsim/nat/kerneltest"
)

var pcapPath = flag.String("quiclab-pcap", "", "write the lab's packets (both endpoint links) to this pcapng file")

// The NAT box's UDP timers, shortened from Linux's 30 s and 120 s so the
// stories take seconds.
const (
	udpTimeout       = 10 * time.Second // nf_conntrack_udp_timeout
	udpStreamTimeout = 20 * time.Second // nf_conntrack_udp_timeout_stream
)

// Allowed deviations of wall-clock observations from the timers: slack
// covers scheduling and jiffies; a DESTROY event can come up to one
// conntrack poll (250 ms) after the expiry.
// captureLag is how much later than the endpoint's own socket the packet
// capture may stamp a packet (the capture goroutine reads it afterwards).
// ctSlack bounds the lateness of what conntrack reports: its events pass
// through the conntrack process and a pipe, and on a loaded machine
// (make test runs packages side by side) they were seen 0.5 s late; a
// DESTROY can also wait for the next listing (250 ms).
const (
	slack      = 500 * time.Millisecond
	ctSlack    = time.Second
	captureLag = 50 * time.Millisecond
)

// The stories, on the timers above. Each story's comment is the story it
// must tell; TestQUICThroughLinuxNAT checks it step by step.
var labStories = []Story{
	// PINGs every 5 s keep the mapping (each one refreshes it; the first,
	// 5 s in, makes it ASSURED, so it would last udp_timeout_stream): the
	// push after 30 s arrives at once, on the same public port.
	{Name: "keepalive", KeepAlive: 5 * time.Second, IdleTimeout: 30 * time.Second,
		Steps: []Step{{30 * time.Second, ServerPush}}, End: 31 * time.Second},
	// No keep-alives: the handshake is over within 2 s, so the entry is
	// never ASSURED and expires udp_timeout (10 s) after the last
	// datagram. The push at 12 s and all its retransmissions are dropped
	// (the NAT box answers ICMP port unreachable, which quic-go ignores);
	// the client closes at its idle timeout (20 s), the server 20 s after
	// its push (sending restarted its idle timer).
	{Name: "no-keepalive", IdleTimeout: 20 * time.Second,
		Steps: []Step{{12 * time.Second, ServerPush}}, End: 33 * time.Second},
	// The mapping is deleted at 7 s; the client's next PING (10 s) makes a
	// new one, and masquerade keeps the port: the server sees the same
	// address, nothing migrates, the push at 12 s arrives.
	{Name: "forget-then-client", KeepAlive: 5 * time.Second, IdleTimeout: 30 * time.Second,
		Steps: []Step{{7 * time.Second, ForgetMapping}, {12 * time.Second, ServerPush}}, End: 13 * time.Second},
	// The mapping is deleted at 7 s and the server pushes at 8 s: dropped,
	// and the dropped datagram leaves an entry that holds the public port
	// for the server. The client's PING at 10 s therefore gets a new
	// public port; the server validates the new path and migrates, and
	// the push arrives right after.
	{Name: "rebinding", KeepAlive: 5 * time.Second, IdleTimeout: 30 * time.Second,
		Steps: []Step{{7 * time.Second, ForgetMapping}, {8 * time.Second, ServerPush}}, End: 14 * time.Second},
}

// newLab builds the kernel lab with endpoint hosts, or skips (fails in
// CI) when this machine cannot.
func newLab(t *testing.T) *kerneltest.Lab {
	t.Helper()
	useNft := kerneltest.Gate(t, "QUIC through Linux NAT", true, 35*time.Second)
	return kerneltest.Build(t, kerneltest.Options{
		Nft:   useNft,
		Tag:   "quic",
		Hosts: true,
		Sysctls: []kerneltest.Sysctl{
			{Name: "nf_conntrack_udp_timeout", Value: int(udpTimeout / time.Second)},
			{Name: "nf_conntrack_udp_timeout_stream", Value: int(udpStreamTimeout / time.Second)},
			{Name: "nf_conntrack_checksum", Value: 1},
		},
	})
}

// runLab plays labStories once per test binary run; the natsim
// comparison reuses the results.
func runLab(t *testing.T) []Result {
	t.Helper()
	lab := newLab(t)
	var pcap io.Writer
	if *pcapPath != "" {
		f, err := os.Create(*pcapPath)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		pcap = f
	}
	results, err := Run(lab, labStories, pcap)
	for _, r := range results {
		t.Logf("story %s (client port %d, server port %d):\n%s%s", r.Story.Name, r.ClientPort, r.ServerPort, r.Timeline(), Summarize(r))
	}
	if err != nil {
		t.Fatal(err)
	}
	return results
}

// TestQUICThroughLinuxNAT runs quic-go through Linux masquerade with
// shortened UDP timeouts and checks the story each of labStories tells.
func TestQUICThroughLinuxNAT(t *testing.T) {
	results := runLab(t)
	byName := map[string]Result{}
	for _, r := range results {
		byName[r.Story.Name] = r
	}
	checks := map[string]func(*testing.T, Result){
		"keepalive":          checkKeepAlive,
		"no-keepalive":       checkNoKeepAlive,
		"forget-then-client": checkForgetThenClient,
		"rebinding":          checkRebinding,
	}
	golden := map[string]Summary{}
	if !*updateGolden {
		golden = loadGolden(t)
	}
	for _, s := range labStories {
		r := byName[s.Name]
		k := Summarize(r)
		t.Run(s.Name+"/kernel", func(t *testing.T) { checks[s.Name](t, r) })
		if *updateGolden {
			golden[s.Name] = k
			continue
		}
		// The recorded story is what natsim is held to where the lab
		// cannot run: this kernel must still tell it.
		t.Run(s.Name+"/recorded", func(t *testing.T) {
			if diffs := agree(golden[s.Name], k, s.End); len(diffs) > 0 {
				t.Errorf("the kernel's story moved from %s (record it again with -update-kernel-stories if the change is understood):\n  %s", goldenPath, strings.Join(diffs, "\n  "))
			}
		})
		t.Run(s.Name+"/natsim", func(t *testing.T) {
			sim, yaml := simulate(t, s)
			if diffs := agree(k, sim, s.End); len(diffs) > 0 {
				t.Errorf("natsim tells another story than Linux:\n  %s\nkernel: %s\nnatsim: %s\nscenario:\n%s", strings.Join(diffs, "\n  "), k, sim, yaml)
			}
		})
	}
	if *updateGolden && !t.Failed() {
		writeGolden(t, golden)
	}
}

func within(t *testing.T, what string, got, lo, hi time.Duration) {
	t.Helper()
	if got < lo || got > hi {
		t.Errorf("%s at %.3fs, want between %.3fs and %.3fs", what, got.Seconds(), lo.Seconds(), hi.Seconds())
	}
}

func checkKeepAlive(t *testing.T, r Result) {
	s := Summarize(r)
	pings := r.All(KindPing)
	if len(pings) < 5 {
		t.Fatalf("%d PINGs in 31 s, want 5 or more (every 5 s)", len(pings))
	}
	for i := 1; i < len(pings); i++ {
		within(t, "PING interval", pings[i].At-pings[i-1].At, 5*time.Second, 5*time.Second+slack)
	}
	if len(s.Mappings) != 1 || s.Mappings[0].Gone != 0 || s.Mappings[0].PublicPort != r.ClientPort {
		t.Errorf("mappings %+v, want one, on the client's own port %d, alive to the end", s.Mappings, r.ClientPort)
	}
	if a, ok := r.First(KindAssured, 0); !ok {
		t.Error("the entry never became ASSURED")
	} else {
		within(t, "ASSURED", a.At, pings[0].At, pings[0].At+ctSlack)
	}
	if len(s.Pushes) != 1 || s.Pushes[0].Delivered == 0 {
		t.Fatalf("pushes %+v, want the one at 30 s delivered", s.Pushes)
	}
	within(t, "push delivered", s.Pushes[0].Delivered, s.Pushes[0].Sent, s.Pushes[0].Sent+100*time.Millisecond)
	if s.Dropped != 0 || len(s.Migrations) != 0 || s.ClientClosed != 0 || s.ServerClosed != 0 {
		t.Errorf("want no drops, migrations or closes: %s", s)
	}
}

// lastPassed returns the last datagram either way that crossed the NAT
// box before t.
func lastPassed(r Result, t time.Duration) Datagram {
	var last Datagram
	for _, d := range r.Datagrams {
		if d.Passed && d.At < t {
			last = d
		}
	}
	return last
}

func checkNoKeepAlive(t *testing.T, r Result) {
	s := Summarize(r)
	if s.Pings != 0 {
		t.Errorf("%d PINGs, want none", s.Pings)
	}
	if _, ok := r.First(KindAssured, 0); ok {
		t.Error("the entry became ASSURED; want all traffic within its first 2 s")
	}
	if len(s.Mappings) != 1 || s.Mappings[0].Gone == 0 {
		t.Fatalf("mappings %+v, want one that expires", s.Mappings)
	}
	last := lastPassed(r, s.Mappings[0].Gone)
	if last.At > 2*time.Second {
		t.Errorf("last datagram through the mapping at %.3fs, want within the handshake's first 2 s", last.At.Seconds())
	}
	within(t, "mapping expiry (DESTROY)", s.Mappings[0].Gone, last.At+udpTimeout, last.At+udpTimeout+ctSlack)
	if len(s.Pushes) != 1 || s.Pushes[0].Delivered != 0 {
		t.Fatalf("pushes %+v, want the one at 12 s never delivered", s.Pushes)
	}
	push := s.Pushes[0].Sent
	for _, d := range r.Datagrams {
		if d.FromServer && d.At >= push && d.Passed {
			t.Errorf("server datagram at %.3fs passed the NAT box after the mapping expired", d.At.Seconds())
		}
	}
	if s.Dropped < 5 {
		t.Errorf("%d server datagrams dropped, want the push and its retransmissions (5 or more)", s.Dropped)
	}
	if e, ok := r.First(KindInboundEntry, push); !ok {
		t.Error("no conntrack entry for the dropped push")
	} else {
		within(t, "entry for the dropped push", e.At, push, push+ctSlack)
	}
	if _, ok := r.First(KindICMP, push); !ok {
		t.Error("the NAT box sent no ICMP port unreachable for the dropped push")
	}
	// quic-go's idle timer starts at the last packet received, or at the
	// first ack-eliciting packet sent after it.
	var lastIn Datagram
	for _, d := range r.Datagrams {
		if d.FromServer && d.Passed {
			lastIn = d
		}
	}
	within(t, "client idle close", s.ClientClosed, lastIn.At+r.Story.IdleTimeout-captureLag, last.At+r.Story.IdleTimeout+slack)
	within(t, "server idle close", s.ServerClosed, push+r.Story.IdleTimeout, push+r.Story.IdleTimeout+slack)
	if len(s.Migrations) != 0 {
		t.Errorf("migrations %v, want none", s.Migrations)
	}
}

func checkForgetThenClient(t *testing.T, r Result) {
	s := Summarize(r)
	forget, ok := r.First(KindForget, 0)
	if !ok || forget.Detail != "1 entries" {
		t.Fatalf("forget event %+v, want one entry deleted", forget)
	}
	if len(s.Mappings) != 2 {
		t.Fatalf("mappings %+v, want the first and one after the forget", s.Mappings)
	}
	ping, ok := r.First(KindPing, forget.At)
	if !ok {
		t.Fatal("no PING after the forget")
	}
	within(t, "new mapping", s.Mappings[1].Created, ping.At, ping.At+ctSlack)
	if s.Mappings[1].PublicPort != s.Mappings[0].PublicPort {
		t.Errorf("new mapping on public port %d, want the old one %d (masquerade preserves a free port)", s.Mappings[1].PublicPort, s.Mappings[0].PublicPort)
	}
	if len(s.Pushes) != 1 || s.Pushes[0].Delivered == 0 {
		t.Fatalf("pushes %+v, want the one at 12 s delivered", s.Pushes)
	}
	if len(s.Migrations) != 0 || s.Dropped != 0 || len(r.All(KindPathChallenge)) != 0 {
		t.Errorf("want no migration, path validation or drop: %s", s)
	}
}

func checkRebinding(t *testing.T, r Result) {
	s := Summarize(r)
	if len(s.Mappings) != 2 || len(s.Pushes) != 1 {
		t.Fatalf("mappings %+v, pushes %+v: want two mappings and one push", s.Mappings, s.Pushes)
	}
	push := s.Pushes[0].Sent
	if e, ok := r.First(KindInboundEntry, push); !ok {
		t.Error("no conntrack entry for the dropped push")
	} else {
		within(t, "entry for the dropped push", e.At, push, push+ctSlack)
	}
	ping, ok := r.First(KindPing, push)
	if !ok {
		t.Fatal("no PING after the push")
	}
	for _, d := range r.Datagrams {
		if d.FromServer && d.At >= push && d.At < ping.At && d.Passed {
			t.Errorf("server datagram at %.3fs passed before the client's PING", d.At.Seconds())
		}
	}
	if s.Dropped < 3 {
		t.Errorf("%d server datagrams dropped, want the push and its retransmissions", s.Dropped)
	}
	m := s.Mappings[1]
	within(t, "new mapping", m.Created, ping.At, ping.At+ctSlack)
	if m.PublicPort == s.Mappings[0].PublicPort {
		t.Errorf("new mapping kept public port %d; want another (the dropped push's entry holds it)", m.PublicPort)
	}
	for _, k := range []Kind{KindPathChallenge, KindPathResponse} {
		if e, ok := r.First(k, ping.At); !ok {
			t.Errorf("no %s after the PING", k)
		} else {
			within(t, string(k), e.At, ping.At, ping.At+slack)
		}
	}
	if len(s.Migrations) != 1 {
		t.Fatalf("migrations %v, want one", s.Migrations)
	}
	within(t, "migration", s.Migrations[0], ping.At, ping.At+slack)
	within(t, "push delivered", s.Pushes[0].Delivered, s.Migrations[0], s.Migrations[0]+slack)
	if s.ClientClosed != 0 || s.ServerClosed != 0 {
		t.Errorf("want the connection to survive: %s", s)
	}
}
