package radio

import (
	"testing"
	"time"
)

// Two connections on one device: their keep-alives 2 s apart share one
// promotion and one tail, charged to the one that woke the radio and
// extended by the other; 60 s apart they wake the radio twice. The split
// by owner adds up to the device's energy, which is the same as without
// the split.
func TestOwnersShareOneRadio(t *testing.T) {
	iso := mustDevice(t, "lte-huang2012")
	keepAlive(iso, t0, 50*time.Millisecond)
	isolated := iso.Report(t0.Add(time.Minute)).EnergyJ - iso.Report(t0.Add(time.Minute)).IdleJ

	run := func(gap time.Duration, split bool) (*Device, Report) {
		d := mustDevice(t, "lte-huang2012")
		if split {
			if err := d.SetOwners(3); err != nil {
				t.Fatal(err)
			}
		}
		for i, at := range []time.Time{t0, t0.Add(gap)} {
			d.PacketFor(at, true, 66, CauseKeepAlive, i+1)
			d.PacketFor(at.Add(50*time.Millisecond), false, 66, CauseKeepAlive, i+1)
		}
		return d, d.Report(t0.Add(5 * time.Minute))
	}
	d, near := run(2*time.Second, true)
	if near.Wakeups != 1 {
		t.Errorf("keep-alives 2 s apart: %d wake-ups, want 1", near.Wakeups)
	}
	if got := near.EnergyJ - near.IdleJ; !within(got, isolated+2*1.06, 0.02) {
		t.Errorf("keep-alives 2 s apart cost %.2f J, want one isolated keep-alive (%.2f J) plus the 2 s of tail they extend", got, isolated)
	}
	if len(near.ByOwnerJ) != 3 || len(near.ByOwnerJ[0]) != 0 {
		t.Fatalf("ByOwnerJ = %v, want 3 owners, owner 0 without energy", near.ByOwnerJ)
	}
	first, second := near.ByOwnerJ[1][CauseKeepAlive], near.ByOwnerJ[2][CauseKeepAlive]
	if first < 1.5 || first > 3 || second < isolated-1 {
		t.Errorf("owner split %.2f J / %.2f J: the first keep-alive pays the promotion and 2 s, the second the whole tail", first, second)
	}
	if sum := first + second; !within(sum, near.EnergyJ-near.IdleJ, 1e-9) {
		t.Errorf("owners add up to %.4f J, device %.4f J", sum, near.EnergyJ-near.IdleJ)
	}
	_, plain := run(2*time.Second, false)
	if plain.EnergyJ != near.EnergyJ || plain.ByOwnerJ != nil {
		t.Errorf("splitting changed the device's energy: %v vs %v (ByOwnerJ %v)", plain.EnergyJ, near.EnergyJ, plain.ByOwnerJ)
	}
	_ = d.Report(t0.Add(time.Hour)) // Report does not mutate: the split reported again is the same
	if again := d.Report(t0.Add(5 * time.Minute)); again.ByOwnerJ[2][CauseKeepAlive] != second {
		t.Error("Report changed the owner split")
	}

	_, far := run(60*time.Second, true)
	if far.Wakeups != 2 {
		t.Errorf("keep-alives 60 s apart: %d wake-ups, want 2", far.Wakeups)
	}
	for o := 1; o <= 2; o++ {
		if got := far.ByOwnerJ[o][CauseKeepAlive]; !within(got, isolated, 0.02) {
			t.Errorf("owner %d of separate wake-ups paid %.2f J, want an isolated keep-alive's %.2f J", o, got, isolated)
		}
	}
	if err := d.SetOwners(0); err == nil {
		t.Error("SetOwners(0) accepted")
	}
	if err := d.SetOwners(MaxOwners + 1); err == nil {
		t.Error("SetOwners above MaxOwners accepted")
	}
}

// BenchmarkPacketFor measures a packet charged to one of six owners (a
// device with five own-connection apps and a shared one), reported as a
// ratio to the floor: the same packets through Packet on an unsplit
// device, timed in the same run.
func BenchmarkPacketFor(b *testing.B) {
	plain, split := mustDevice(b, "lte-aro"), mustDevice(b, "lte-aro")
	if err := split.SetOwners(6); err != nil {
		b.Fatal(err)
	}
	at := t0
	start := time.Now()
	for i := 0; i < b.N; i++ {
		at = at.Add(7 * time.Second)
		plain.Packet(at, true, 66, CauseKeepAlive)
	}
	floor := float64(time.Since(start).Nanoseconds()) / float64(b.N)
	at = t0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		at = at.Add(7 * time.Second)
		split.PacketFor(at, true, 66, CauseKeepAlive, i%6)
	}
	b.StopTimer()
	op := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	b.ReportMetric(floor, "floor-ns/op")
	b.ReportMetric(op/floor, "x-floor")
}
