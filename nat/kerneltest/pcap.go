package kerneltest

import (
	"fmt"
	"io"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// WritePcapng writes captured packets as pcapng (raw IPv4, wall-clock
// timestamps), one interface per endpoint link: "dev/eth0" on the inside
// and "srv/eth0" on the outside, each with the packets its endpoint sent
// and received, so Wireshark shows a flow before and after translation.
func WritePcapng(w io.Writer, caps []Captured) error {
	intf := func(name string) pcapgo.NgInterface {
		return pcapgo.NgInterface{Name: name, Description: "natsim kernel lab endpoint link", LinkType: layers.LinkTypeRaw, TimestampResolution: 9}
	}
	ng, err := pcapgo.NewNgWriterInterface(w, intf("dev/eth0"), pcapgo.NgWriterOptions{SectionInfo: pcapgo.NgSectionInfo{Application: "natsim kerneltest"}})
	if err != nil {
		return fmt.Errorf("kerneltest: pcapng: %w", err)
	}
	if _, err := ng.AddInterface(intf("srv/eth0")); err != nil {
		return fmt.Errorf("kerneltest: pcapng: %w", err)
	}
	for _, c := range caps {
		idx := 0
		if c.Side == Outside {
			idx = 1
		}
		ci := gopacket.CaptureInfo{Timestamp: c.At, CaptureLength: len(c.Pkt), Length: len(c.Pkt), InterfaceIndex: idx}
		if err := ng.WritePacket(ci, c.Pkt); err != nil {
			return fmt.Errorf("kerneltest: pcapng: %w", err)
		}
	}
	return ng.Flush()
}
