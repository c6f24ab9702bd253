package sim

import (
	"math/rand/v2"
	"time"
)

// LinkDir describes one direction of a link.
type LinkDir struct {
	// Latency is the fixed propagation delay.
	Latency time.Duration
	// Jitter adds a delay drawn uniformly from [0, Jitter) with the
	// world's seeded generator. Unless Reorder is set, a packet never
	// overtakes the one sent before it on the same link direction: its
	// delivery is held back to the previous delivery time (FIFO), as on a
	// single radio bearer or a wire.
	Jitter time.Duration
	// Reorder lets jitter reorder packets.
	Reorder bool
	// Loss is the probability in [0, 1] that a packet is lost.
	Loss float64
	// BitsPerSecond, when positive, adds serialisation delay: a packet
	// waits until the previous one has been sent, then takes
	// size*8/BitsPerSecond to send.
	BitsPerSecond int64
}

// LinkConfig configures a link. Up is the direction towards the servers
// (device to network), Down the direction towards the devices.
type LinkConfig struct {
	Up, Down LinkDir
}

// Symmetric returns a LinkConfig with d in both directions.
func Symmetric(d LinkDir) LinkConfig { return LinkConfig{Up: d, Down: d} }

// LinkChange is a change of a link's state at a virtual time.
type LinkChange struct {
	// Down takes the link down (true) or up (false); nil leaves it.
	Down *bool
	// Config, when not nil, replaces the link's directions.
	Config *LinkConfig
}

// Link is one instance of a link: a device's access link or a host's
// core link. Its methods run on the scheduler goroutine.
type Link struct {
	w    *World
	name string
	cfg  LinkConfig
	down bool
	// per direction: when the transmitter is free and when the last
	// packet arrives (for FIFO under jitter).
	busy, last [2]int64
}

// Name identifies the link in events.
func (l *Link) Name() string { return l.name }

// Config returns the link's current configuration.
func (l *Link) Config() LinkConfig { return l.cfg }

// IsDown reports whether the link is down.
func (l *Link) IsDown() bool { return l.down }

// SetDown takes the link down or brings it up now. Packets sent while it
// is down are dropped (DropLinkDown); packets already in flight arrive.
func (l *Link) SetDown(down bool) {
	if l.down == down {
		return
	}
	l.down = down
	l.w.emit(Event{Kind: EventLinkState, Link: l.name, Down: down})
}

// Configure replaces the link's configuration now.
func (l *Link) Configure(c LinkConfig) {
	l.cfg = c
	l.w.emit(Event{Kind: EventLinkState, Link: l.name, Down: l.down, Detail: "reconfigured"})
}

// Schedule applies ch at virtual time at.
func (l *Link) Schedule(at time.Time, ch LinkChange) {
	l.w.sched.At(at, func() {
		if ch.Config != nil {
			l.Configure(*ch.Config)
		}
		if ch.Down != nil {
			l.SetDown(*ch.Down)
		}
	})
}

// ScheduleOutage takes the link down from 'from' to 'to'.
func (l *Link) ScheduleOutage(from, to time.Time) {
	t, f := true, false
	l.Schedule(from, LinkChange{Down: &t})
	l.Schedule(to, LinkChange{Down: &f})
}

// transit decides the fate of a size-byte packet sent now in direction
// dir (0 up, 1 down): its arrival time, or why it is lost.
func (l *Link) transit(rng *rand.Rand, now int64, dir int, size int) (int64, DropCause) {
	if l.down {
		return 0, DropLinkDown
	}
	d := &l.cfg.Up
	if dir == 1 {
		d = &l.cfg.Down
	}
	if d.Loss > 0 && rng.Float64() < d.Loss {
		return 0, DropLinkLoss
	}
	t := now
	if d.BitsPerSecond > 0 {
		t = max(t, l.busy[dir])
		t += int64(size) * 8 * int64(time.Second) / d.BitsPerSecond
		l.busy[dir] = t
	}
	t += int64(d.Latency)
	if d.Jitter > 0 {
		t += rng.Int64N(int64(d.Jitter))
	}
	if !d.Reorder {
		t = max(t, l.last[dir])
		l.last[dir] = t
	}
	return t, DropNone
}
