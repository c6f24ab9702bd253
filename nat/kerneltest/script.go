package kerneltest

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// Emitted is one packet that left a middlebox in response to a scripted
// packet or, with no packet arriving, on its own.
type Emitted struct {
	// Side is where the packet left the box.
	Side Side
	// Forwarded is true for the scripted packet itself, translated, and
	// false for a packet the box generated (RST, ICMP error).
	Forwarded bool
	// Pkt is the whole IPv4 packet.
	Pkt []byte
}

// World is one middlebox under the script: the kernel lab or a model.
// at is the offset since the script started; a model uses it as its
// virtual clock, so both worlds see the same idle periods.
type World interface {
	// Name labels the world in reports ("kernel", "model").
	Name() string
	// Idle returns what the box emitted on its own since the last call,
	// up to at.
	Idle(at time.Duration) ([]Emitted, error)
	// Send delivers pkt, sent from side at at, and returns what left the
	// box in response.
	Send(at time.Duration, from Side, pkt []byte) ([]Emitted, error)
}

// View is one world's knowledge while building a step's packet: the
// public port (or ICMP identifier) the box gave each inside flow.
type View struct {
	public map[flowKey]uint16
}

type flowKey struct {
	proto uint8
	port  uint16 // inside port, or echo identifier
}

// Public returns the address and port the box last translated the inside
// flow with protocol proto and inside port (or echo identifier) port to,
// or the inside port itself when the box has forwarded none of its
// packets yet.
func (v *View) Public(proto uint8, port uint16) netip.AddrPort {
	if p, ok := v.public[flowKey{proto, port}]; ok {
		return netip.AddrPortFrom(PublicAddr, p)
	}
	return netip.AddrPortFrom(PublicAddr, port)
}

// Step is one line of the script: wait, then send one packet.
type Step struct {
	// Name identifies the step in reports and in tables of expected
	// differences; unique within a script.
	Name string
	// Wait is the idle time before the packet is sent.
	Wait time.Duration
	// From is the side the packet is sent from.
	From Side
	// Build returns the packet as the sender would send it in a world,
	// given that world's view (the server addresses the public port the
	// world's box chose).
	Build func(v *View) []byte
}

// Result is the fate of one step in one world.
type Result struct {
	Step  string
	World string
	// At is the offset at which the packet was sent.
	At time.Duration
	// Fate renders what happened; equal fates mean equal behaviour.
	Fate string
}

// Run plays steps against every world in lockstep: each step waits in
// real time, then each world receives the packet with the same offset.
// It returns results[i][w], the fate of step i in world w.
func Run(steps []Step, worlds []World) ([][]Result, error) {
	views := make([]*View, len(worlds))
	for i := range views {
		views[i] = &View{public: map[flowKey]uint16{}}
	}
	names := map[string]bool{}
	for _, s := range steps {
		if names[s.Name] {
			return nil, fmt.Errorf("kerneltest: step name %q used twice", s.Name)
		}
		names[s.Name] = true
	}
	insidePorts := insidePorts(steps)
	start := time.Now()
	var due time.Duration
	out := make([][]Result, 0, len(steps))
	for _, s := range steps {
		due += s.Wait
		if d := time.Until(start.Add(due)); d > 0 {
			time.Sleep(d)
		}
		at := time.Since(start)
		// The model must see the packet at least as late as the script
		// says, or a wait of "timeout + margin" could shrink below it.
		due = max(due, at)
		row := make([]Result, len(worlds))
		for i, w := range worlds {
			idle, err := w.Idle(at)
			if err != nil {
				return out, fmt.Errorf("%s: step %q: %w", w.Name(), s.Name, err)
			}
			pkt := s.Build(views[i])
			em, err := w.Send(at, s.From, pkt)
			if err != nil {
				return out, fmt.Errorf("%s: step %q: %w", w.Name(), s.Name, err)
			}
			views[i].learn(s.From, pkt, em)
			row[i] = Result{Step: s.Name, World: w.Name(), At: at, Fate: fate(idle, em, insidePorts)}
		}
		out = append(out, row)
		// Time spent in the worlds counts towards the next wait.
		due = max(due, time.Since(start))
	}
	return out, nil
}

// learn records the public port of an inside flow from its forwarded
// outbound packet.
func (v *View) learn(from Side, sent []byte, em []Emitted) {
	if from != Inside {
		return
	}
	inPort, ok := L4Source(sent)
	if !ok {
		return
	}
	for _, e := range em {
		if !e.Forwarded {
			continue
		}
		if p, ok := L4Source(e.Pkt); ok {
			v.public[flowKey{header.IPv4(sent).Protocol(), inPort}] = p
		}
	}
}

// insidePorts lists the inside hosts' source ports and echo identifiers:
// a public port equal to one of them is shown (port preserved), any
// other public port is shown as "*" since boxes may pick different ones.
func insidePorts(steps []Step) map[uint16]bool {
	ports := map[uint16]bool{}
	v := &View{public: map[flowKey]uint16{}}
	for _, s := range steps {
		if s.From != Inside {
			continue
		}
		if p, ok := L4Source(s.Build(v)); ok {
			ports[p] = true
		}
	}
	return ports
}

func fate(idle, em []Emitted, inside map[uint16]bool) string {
	port := func(a netip.Addr, p uint16) string {
		if (a == PublicAddr || !a.IsValid()) && !inside[p] {
			return "*"
		}
		return fmt.Sprint(p)
	}
	var parts []string
	for _, e := range idle {
		parts = append(parts, fmt.Sprintf("unprompted to %s: %s", e.Side, Describe(e.Pkt, port)))
	}
	fwd := slices.IndexFunc(em, func(e Emitted) bool { return e.Forwarded })
	if fwd < 0 {
		parts = append(parts, "dropped")
	} else {
		parts = append(parts, "forwarded: "+Describe(em[fwd].Pkt, port))
	}
	for i, e := range em {
		if i != fwd {
			parts = append(parts, fmt.Sprintf("generated to %s: %s", e.Side, Describe(e.Pkt, port)))
		}
	}
	return strings.Join(parts, " | ")
}

// Kernel adapts a Lab to World. Window is how long it listens after each
// packet for what the box sends in response.
type Kernel struct {
	Lab    *Lab
	Window time.Duration
}

// Name returns "kernel".
func (k *Kernel) Name() string { return "kernel" }

// Idle returns what was captured since the last Send.
func (k *Kernel) Idle(time.Duration) ([]Emitted, error) {
	return k.classify(0, k.Lab.Collect(0), nil), nil
}

// Send sends pkt from side and returns what was captured within Window.
// The first packet of the same protocol leaving on the far side counts as
// the scripted packet forwarded; everything else was generated.
func (k *Kernel) Send(_ time.Duration, from Side, pkt []byte) ([]Emitted, error) {
	if err := k.Lab.Send(from, pkt); err != nil {
		return nil, err
	}
	return k.classify(from, k.Lab.Collect(k.Window), pkt), nil
}

func (k *Kernel) classify(from Side, caps []Captured, sent []byte) []Emitted {
	out := make([]Emitted, 0, len(caps))
	found := false
	for _, c := range caps {
		e := Emitted{Side: c.Side, Pkt: c.Pkt}
		if !found && sent != nil && c.Side != from && header.IPv4(c.Pkt).Protocol() == header.IPv4(sent).Protocol() &&
			len(header.IPv4(c.Pkt).Payload()) == len(header.IPv4(sent).Payload()) {
			e.Forwarded, found = true, true
		}
		out = append(out, e)
	}
	return out
}
