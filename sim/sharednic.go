package sim

import (
	"fmt"
	"net/netip"

	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// A device stack's devices share one gVisor NIC. Each device's address
// is on it as a /32 that is never primary (a socket always binds to its
// device's address, so gVisor never has to choose a source), and the
// stack has one default route, so stack.FindRoute on connect finds it
// first whatever the number of devices. The engine's LinkEndpoint
// (nicEP) gets every device's packets; the barrier tells them apart by
// source address (owners). Everything else of a device (access link,
// tap, interface state, path) is the engine's, in Device.
//
// Many addresses on one NIC have one trap in gVisor: on every inbound
// packet, ipv4's handleValidatedPacket asks AcquireAssignedAddress
// whether the packet's source is a subnet broadcast of the NIC, and when
// the source is not an address of the NIC that lookup
// (AddressableEndpointState.AcquireAssignedAddressOrMatching) walks all
// of the NIC's addresses: 17x the cost of one address at 1,024 devices,
// 160x at 10,000 (BenchmarkAddressLayout). So the stack also puts each
// peer's address on the NIC, never primary, the first time a packet from
// it reaches a device: the check then ends at a map hit that says "not a
// broadcast" (a /32 has none), as the walk would have. A peer address
// on the NIC changes nothing else: the engine only injects packets
// addressed to a device, and a stack without HandleLocal never routes
// to its own addresses.

// maxPeers bounds the peer addresses a device stack puts on its NIC;
// packets from further peers are still delivered, through gVisor's walk.
const maxPeers = 1024

// addDevice puts device d with address addr on the stack's shared NIC,
// creating the NIC with the stack's first device.
func (st *netStack) addDevice(d *Device, addr netip.Addr) error {
	if st.nic == nil {
		ep := &nicEP{rawLink: rawLink{mtu: st.w.cfg.MTU}}
		if err := st.addNIC(ep, netip.Addr{}); err != nil {
			return err
		}
		st.nic = ep
		st.devs = make(map[uint32]*Device)
		st.peers = make(map[uint32]bool)
	}
	if err := st.addDeviceAddr(d, addr); err != nil {
		return err
	}
	st.ndev++
	d.slot = uint32(st.ndev)
	d.ep, d.st = st.nic, st
	return nil
}

// addDeviceAddr puts addr on the NIC as d's: a peer address equal to it
// makes way.
func (st *netStack) addDeviceAddr(d *Device, addr netip.Addr) error {
	a := ip4(addr)
	if on, seen := st.peers[a]; seen {
		delete(st.peers, a)
		if on {
			if err := st.s.RemoveAddress(1, tcpAddr(addr)); err != nil {
				return fmt.Errorf("sim: remove peer address %s: %s", addr, err)
			}
		}
	}
	if err := st.addAddr(addr, stack.NeverPrimaryEndpoint); err != nil {
		return err
	}
	st.devs[a] = d
	return nil
}

// moveDevice replaces d's address old with addr. Packets d's sockets
// emit from old (the resets of a teardown) are still d's until its next
// change of address.
func (st *netStack) moveDevice(d *Device, old, addr netip.Addr) error {
	if err := st.s.RemoveAddress(1, tcpAddr(old)); err != nil {
		return fmt.Errorf("sim: remove address %s: %s", old, err)
	}
	if d.prev4 != 0 && st.devs[d.prev4] == d {
		delete(st.devs, d.prev4)
	}
	d.prev4 = ip4(old)
	return st.addDeviceAddr(d, addr)
}

// addPeer puts a packet's source address a on the NIC unless it is
// there already (a device's or a peer's), the stack has maxPeers, or it
// is no unicast address. gVisor refusing it costs only speed.
func (st *netStack) addPeer(a uint32) {
	if _, seen := st.peers[a]; seen || st.devs[a] != nil || len(st.peers) >= maxPeers {
		return
	}
	if a == 0 || a>>28 == 0xe || a == 0xffffffff {
		return
	}
	// The value says whether the address is on the NIC.
	st.peers[a] = st.addAddr(addrOf(a), stack.NeverPrimaryEndpoint) == nil
}

// owners finds the device of each packet a device stack emitted, by
// source address, and completes its sort key with the device's slot.
// It runs on the scheduler goroutine, where devs changes.
func (w *World) owners(out []*packet) {
	for _, p := range out {
		if p.from.host != nil {
			continue
		}
		if d := p.from.st.devs[srcAddr(p.data)]; d != nil {
			p.dev = d
			p.key1 |= uint64(d.slot)
		}
	}
}
