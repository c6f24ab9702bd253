package sim

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/natsim/natsim/nat"
)

// CaptureConfig chooses what a capture records.
type CaptureConfig struct {
	// Devices limits the capture to these devices' packets (their own
	// interface, the middleboxes on their path, the server side of their
	// flows). Empty captures everything.
	Devices []*Device
	// Comment is written into the section header (shown by Wireshark's
	// capture file properties), e.g. what the packets do not model.
	Comment string
}

// capture writes pcapng with one interface per observation point: a
// device's NIC, the outside of each middlebox (after it translated an
// outbound packet, before it translates an inbound one, so the pair of
// interfaces shows a flow before and after translation), and each host's
// NIC. Interfaces are added as points first see a packet.
type capture struct {
	w    *World
	out  io.Writer
	ng   *pcapgo.NgWriter
	all  bool
	devs map[*Device]bool
	// flows maps (observation node, 5-tuple hash) of chosen devices'
	// outbound packets, so that inbound packets seen before the engine
	// knows their device can be matched by their reversed tuple.
	flows   map[flowID]bool
	nifs    int
	err     error
	comment string
}

type flowID struct {
	node uint32
	a, b uint64
}

// Capture starts writing a pcapng capture of the world's packets to out
// with virtual timestamps (link type raw IPv4). Call FlushCapture before
// reading what was written.
func (w *World) Capture(out io.Writer, cfg CaptureConfig) error {
	if w.capt != nil {
		return fmt.Errorf("sim: a capture is already running")
	}
	c := &capture{w: w, out: out, all: len(cfg.Devices) == 0, flows: make(map[flowID]bool), comment: cfg.Comment}
	if !c.all {
		c.devs = make(map[*Device]bool, len(cfg.Devices))
		for _, d := range cfg.Devices {
			c.devs[d] = true
		}
	}
	w.capt = c
	return nil
}

// FlushCapture flushes the capture and reports the first error writing
// it met.
func (w *World) FlushCapture() error {
	c := w.capt
	if c == nil {
		return nil
	}
	if c.ng != nil {
		if err := c.ng.Flush(); err != nil && c.err == nil {
			c.err = err
		}
	}
	return c.err
}

// tuple returns the packet's (src, dst, proto) and ports, and the same
// reversed.
func tuple(b []byte) (fwd, rev flowID) {
	if len(b) < 20 {
		return
	}
	src := uint64(binary.BigEndian.Uint32(b[12:16]))
	dst := uint64(binary.BigEndian.Uint32(b[16:20]))
	var sp, dp uint64
	if ihl := int(b[0]&0xf) * 4; len(b) >= ihl+4 {
		sp = uint64(binary.BigEndian.Uint16(b[ihl:]))
		dp = uint64(binary.BigEndian.Uint16(b[ihl+2:]))
	}
	proto := uint64(b[9])
	fwd = flowID{a: src<<32 | dst, b: proto<<32 | sp<<16 | dp}
	rev = flowID{a: dst<<32 | src, b: proto<<32 | dp<<16 | sp}
	return
}

// record captures p at n if it belongs to the capture.
func (c *capture) record(n *node, p *packet, dir nat.Direction) {
	if !c.all {
		fwd, rev := tuple(p.data)
		if p.dev != nil && c.devs[p.dev] {
			if dir == nat.Outbound {
				fwd.node = n.id
				c.flows[fwd] = true
			}
		} else {
			rev.node = n.id
			if !c.flows[rev] {
				return
			}
		}
	}
	c.write(n, p)
}

// wantInbound decides, before a middlebox translates an inbound packet,
// whether to capture it at the box's outside.
func (c *capture) wantInbound(n *node, p *packet) bool {
	if c.all {
		return true
	}
	_, rev := tuple(p.data)
	rev.node = n.id
	return c.flows[rev]
}

func (c *capture) write(n *node, p *packet) {
	if c.err != nil {
		return
	}
	if n.capIf == 0 {
		intf := pcapgo.NgInterface{
			Name:                n.name,
			Description:         "natsim observation point",
			LinkType:            layers.LinkTypeRaw,
			SnapLength:          0,
			TimestampResolution: 9, // nanoseconds
		}
		if c.ng == nil {
			ng, err := pcapgo.NewNgWriterInterface(c.out, intf, pcapgo.NgWriterOptions{
				SectionInfo: pcapgo.NgSectionInfo{Application: "natsim", Comment: c.comment},
			})
			if err != nil {
				c.err = fmt.Errorf("sim: capture: %w", err)
				return
			}
			c.ng = ng
		} else if _, err := c.ng.AddInterface(intf); err != nil {
			c.err = fmt.Errorf("sim: capture: add interface %s: %w", n.name, err)
			return
		}
		c.nifs++
		n.capIf = c.nifs
	}
	ci := gopacket.CaptureInfo{
		Timestamp:      c.w.sched.Now(),
		CaptureLength:  len(p.data),
		Length:         len(p.data),
		InterfaceIndex: n.capIf - 1,
	}
	if err := c.ng.WritePacket(ci, p.data); err != nil {
		c.err = fmt.Errorf("sim: capture: %w", err)
	}
}
