package sim

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/natsim/natsim/nat"
)

// NetworkConfig describes an access network: where its devices get their
// addresses, their access link, and the middleboxes between them and the
// core.
type NetworkConfig struct {
	// Name identifies the network in events and captures.
	Name string
	// Prefix is where device addresses come from: 192.168.0.0/16 behind
	// home NATs, 100.64.0.0/10 behind a CGNAT (RFC 6598), public space
	// with no NAT.
	Prefix netip.Prefix
	// Access is the link between each device and the network (one
	// instance per device).
	Access LinkConfig
	// Shared is a middlebox every device of the network shares, such as
	// a CGNAT; nil for none.
	Shared nat.Middlebox
	// SharedOutside are Shared's public addresses: inbound packets to
	// them are routed to Shared. Empty means Shared does not translate
	// (a pass-through box): the addresses behind it are routed to it.
	SharedOutside []netip.Addr
	// Home, when set, builds a per-device middlebox (a home router)
	// whose outside address is outside (allocated from HomeOutside).
	Home func(d *Device, outside netip.Addr) (nat.Middlebox, error)
	// HomeOutside is where home routers' outside addresses come from;
	// behind a CGNAT that is the CGNAT's inside space.
	HomeOutside netip.Prefix
	// HomeTranslates says whether Home rewrites addresses; when false
	// (a pass-through router) the device address is routed to it.
	HomeTranslates bool
}

// Network is an access network devices can join.
type Network struct {
	w      *World
	cfg    NetworkConfig
	shared *node
}

// Name returns the network's name.
func (n *Network) Name() string { return n.cfg.Name }

// Config returns the network's configuration.
func (n *Network) Config() NetworkConfig { return n.cfg }

// AddNetwork adds an access network.
func (w *World) AddNetwork(cfg NetworkConfig) (*Network, error) {
	if !cfg.Prefix.IsValid() || !cfg.Prefix.Addr().Is4() {
		return nil, fmt.Errorf("sim: network %q: prefix %v is not an IPv4 prefix", cfg.Name, cfg.Prefix)
	}
	if cfg.Home != nil && !cfg.HomeOutside.IsValid() && cfg.HomeTranslates {
		return nil, fmt.Errorf("sim: network %q: Home needs HomeOutside", cfg.Name)
	}
	n := &Network{w: w, cfg: cfg}
	if cfg.Shared != nil {
		n.shared = w.newNode(cfg.Name, cfg.Shared, nil)
		for _, a := range cfg.SharedOutside {
			if !a.Is4() {
				return nil, fmt.Errorf("sim: network %q: outside address %s is not IPv4", cfg.Name, a)
			}
			if err := w.addRoute(n.shared, nil, ip4(a), n.shared); err != nil {
				return nil, fmt.Errorf("sim: network %q: %w", cfg.Name, err)
			}
		}
	}
	return n, nil
}

// DeviceConfig configures a device.
type DeviceConfig struct {
	Name    string
	Network *Network
	// Addr fixes the device's address; zero allocates one from the
	// network's prefix.
	Addr netip.Addr
	// TCP is the device's TCP profile (RTO bounds, retries, buffers: a
	// phone OS's sysctls); nil means Config.DeviceTCP. The profile is
	// stack-wide in gVisor, so devices with different profiles live on
	// different stacks.
	TCP *TCPProfile
}

// deviceStack returns the stack the next device with profile p joins:
// the newest stack of that profile while it has fewer than
// DevicesPerStack devices, else a new one. Stacks are sharded per profile.
func (w *World) deviceStack(p TCPProfile) (*netStack, error) {
	if st := w.devStacks[p]; st != nil && st.ndev < w.cfg.DevicesPerStack {
		return st, nil
	}
	st, err := w.newStack(p)
	if err != nil {
		return nil, err
	}
	if w.devStacks == nil {
		w.devStacks = make(map[TCPProfile]*netStack)
	}
	w.devStacks[p] = st
	return st, nil
}

// Tap is one packet seen at a device's radio: when, which way, how big.
type Tap struct {
	At   time.Time
	Up   bool // true: sent by the device
	Size int  // IP packet size in bytes
	// Port is the device's TCP or UDP port of the packet (its source port
	// when sent, destination port when received), 0 for other protocols:
	// it tells apart the connections of several apps on one device.
	Port uint16
}

// NetworkChange tells a device's application that its network changed.
type NetworkChange struct {
	At      time.Time
	Up      bool       // the interface is up after the change
	Addr    netip.Addr // the device's address after the change
	Old     netip.Addr // the address before
	Network *Network   // the network after the change
}

// Device is a simulated phone: an address on its device stack's shared
// NIC, an access link, and its path through middleboxes to the core.
type Device struct {
	iface
	name  string
	net   *Network
	n     node
	home  *node
	link  Link
	up    bool
	addr4 uint32
	prev4 uint32 // the address before the last change, still d's on its stack
	slot  uint32 // position on its stack, in the order of outbound packets

	tap   func(Tap)
	onNet func(NetworkChange)
}

// Name returns the device's name.
func (d *Device) Name() string { return d.name }

// Network returns the access network the device is on.
func (d *Device) Network() *Network { return d.net }

// Link returns the device's access link.
func (d *Device) Link() *Link { return &d.link }

// IsUp reports whether the device's interface is up.
func (d *Device) IsUp() bool { return d.up }

// SetTap sets the per-device packet tap (nil removes it). It runs on the
// scheduler goroutine for each packet the device sends (when it leaves
// the NIC) or receives (when it arrives), for the radio model.
func (d *Device) SetTap(f func(Tap)) { d.tap = f }

// OnNetworkChange sets the callback that tells the device's application
// at once when its address, interface state or network changes. It runs
// after the device's sockets have been torn down.
func (d *Device) OnNetworkChange(f func(NetworkChange)) { d.onNet = f }

// AddDevice adds a device to a network.
func (w *World) AddDevice(cfg DeviceConfig) (*Device, error) {
	if cfg.Network == nil {
		return nil, fmt.Errorf("sim: device %q: no network", cfg.Name)
	}
	idx := len(w.devices)
	if cfg.Name == "" {
		cfg.Name = fmt.Sprintf("dev%d", idx)
	}
	prof := w.cfg.DeviceTCP
	if cfg.TCP != nil {
		prof = *cfg.TCP
	}
	st, err := w.deviceStack(prof)
	if err != nil {
		return nil, fmt.Errorf("sim: device %q: %w", cfg.Name, err)
	}
	d := &Device{name: cfg.Name, up: true}
	d.iface = iface{w: w, dev: d}
	d.n = node{name: cfg.Name, dev: d}
	d.link = Link{w: w, name: cfg.Name + "/access"}
	addr, err := w.pickAddr(cfg.Network, cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("sim: device %q: %w", cfg.Name, err)
	}
	if err := st.addDevice(d, addr); err != nil {
		return nil, fmt.Errorf("sim: device %q: %w", cfg.Name, err)
	}
	d.setAddr(addr)
	d.n.id = w.nodeID()
	if err := w.attach(d, cfg.Network); err != nil {
		return nil, fmt.Errorf("sim: device %q: %w", cfg.Name, err)
	}
	w.devices = append(w.devices, d)
	return d, nil
}

func (d *Device) setAddr(a netip.Addr) {
	d.addr = a
	d.addr4 = ip4(a)
}

func (w *World) pickAddr(n *Network, fixed netip.Addr) (netip.Addr, error) {
	if fixed.IsValid() {
		if !fixed.Is4() {
			return netip.Addr{}, fmt.Errorf("address %s is not IPv4", fixed)
		}
		if w.used[ip4(fixed)] {
			return netip.Addr{}, fmt.Errorf("address %s is in use", fixed)
		}
		w.used[ip4(fixed)] = true
		return fixed, nil
	}
	return w.allocAddr(n.cfg.Prefix)
}

// attach builds d's path on network n: access link, home router,
// shared box, and the inbound routes to d.
func (w *World) attach(d *Device, n *Network) error {
	d.net = n
	d.link.cfg = n.cfg.Access
	d.link.busy, d.link.last = [2]int64{}, [2]int64{}
	d.n.parent = n.shared
	// The address the level above sees, and the node it leads to.
	seen, child := d.addr4, &d.n
	if n.cfg.Home != nil {
		var outside netip.Addr
		if n.cfg.HomeTranslates {
			var err error
			if outside, err = w.allocAddr(n.cfg.HomeOutside); err != nil {
				return err
			}
		}
		box, err := n.cfg.Home(d, outside)
		if err != nil {
			return fmt.Errorf("home router: %w", err)
		}
		d.home = w.newNode(d.name+"/home", box, n.shared)
		d.n.parent = d.home
		if err := w.addRoute(&d.n, d.home, d.addr4, &d.n); err != nil {
			return err
		}
		child = d.home
		if n.cfg.HomeTranslates {
			d.home.outside = ip4(outside)
			seen = d.home.outside
		}
	}
	if err := w.addRoute(&d.n, n.shared, seen, child); err != nil {
		return err
	}
	if n.shared != nil && len(n.cfg.SharedOutside) == 0 {
		// A transparent shared box: the public side reaches the
		// address through it.
		if err := w.addRoute(&d.n, nil, seen, n.shared); err != nil {
			return err
		}
	}
	return nil
}

// detach removes d's inbound routes and its home router.
func (w *World) detach(d *Device) {
	w.dropRoutes(&d.n)
	if d.home != nil {
		if d.home.timer != nil {
			d.home.timer.Stop()
			d.home.armed = notArmed
		}
		if d.home.outside != 0 {
			delete(w.used, d.home.outside)
		}
		d.home.box = nil
		d.home = nil
	}
}

// teardown aborts every socket of d, as a phone's OS does when the
// network the sockets were bound to goes away, and queues err for their
// handlers (the caller flushes once the device is in its new state).
// Packets the aborts emit are dropped at the interface.
func (d *Device) teardown(err error) {
	d.socks.closeAll(err)
}

func (d *Device) changed(old netip.Addr) {
	if d.onNet != nil {
		d.onNet(NetworkChange{At: d.w.Now(), Up: d.up, Addr: d.addr, Old: old, Network: d.net})
	}
}

// ChangeAddress gives the device a new address on its network, as a DHCP
// renewal that returns a different lease does. The device's sockets are
// torn down (OnClosed with ErrAddrChanged); their peers stay half-open
// until their own timers notice.
func (d *Device) ChangeAddress() error {
	w := d.w
	old := d.addr
	addr, err := w.allocAddr(d.net.cfg.Prefix)
	if err != nil {
		return fmt.Errorf("sim: device %q: change address: %w", d.name, err)
	}
	return d.rebind(d.net, old, addr, ErrAddrChanged)
}

func (d *Device) rebind(n *Network, old, addr netip.Addr, reason error) error {
	w := d.w
	d.addr4 = 0 // anything the teardown emits is dropped
	d.teardown(reason)
	w.detach(d)
	delete(w.used, ip4(old))
	if err := d.st.moveDevice(d, old, addr); err != nil {
		return fmt.Errorf("sim: device %q: %w", d.name, err)
	}
	d.setAddr(addr)
	if err := w.attach(d, n); err != nil {
		return fmt.Errorf("sim: device %q: %w", d.name, err)
	}
	w.emit(Event{Kind: EventAddrChange, Device: d, Addr: addr, Old: old, Detail: n.cfg.Name})
	// The old sockets' handlers learn of the teardown only now, with
	// the new address in place: a handler that redials at once gets a
	// socket on the new address, and the teardown above never sees it.
	w.flushClosed()
	d.changed(old)
	return nil
}

// Move moves the device to another access network (Wi-Fi to cellular):
// a new address, a new path, and its sockets torn down.
func (d *Device) Move(n *Network) error {
	if n == nil {
		return fmt.Errorf("sim: device %q: move to nil network", d.name)
	}
	addr, err := d.w.allocAddr(n.cfg.Prefix)
	if err != nil {
		return fmt.Errorf("sim: device %q: move to %q: %w", d.name, n.cfg.Name, err)
	}
	d.w.emit(Event{Kind: EventNetworkChange, Device: d, Detail: "move to " + n.cfg.Name})
	return d.rebind(n, d.addr, addr, ErrAddrChanged)
}

// SetInterfaceUp takes the device's interface down (airplane mode, lost
// coverage) or brings it back. Going down tears the sockets down with
// ErrNetworkDown; packets to and from the device are dropped meanwhile.
func (d *Device) SetInterfaceUp(up bool) {
	if d.up == up {
		return
	}
	d.up = up
	if !up {
		d.teardown(ErrNetworkDown)
	}
	d.w.emit(Event{Kind: EventNetworkChange, Device: d, Down: !up})
	d.w.flushClosed()
	d.changed(d.addr)
}

// HostConfig configures a server host.
type HostConfig struct {
	Name string
	// Addr is the host's public address.
	Addr netip.Addr
	// Link is the core link between the middleboxes and the host.
	Link LinkConfig
	// TCP is the host stack's TCP profile.
	TCP TCPProfile
}

// Host is a server with its own stack and one public address.
type Host struct {
	iface
	name string
	n    node
	link Link
}

// Name returns the host's name.
func (h *Host) Name() string { return h.name }

// Link returns the host's core link.
func (h *Host) Link() *Link { return &h.link }

// AddHost adds a server host with its own stack.
func (w *World) AddHost(cfg HostConfig) (*Host, error) {
	if !cfg.Addr.Is4() {
		return nil, fmt.Errorf("sim: host %q: address %v is not IPv4", cfg.Name, cfg.Addr)
	}
	a := ip4(cfg.Addr)
	if w.hostByAddr[a] != nil || w.used[a] {
		return nil, fmt.Errorf("sim: host %q: address %s is in use", cfg.Name, cfg.Addr)
	}
	st, err := w.newStack(cfg.TCP)
	if err != nil {
		return nil, fmt.Errorf("sim: host %q: %w", cfg.Name, err)
	}
	h := &Host{name: cfg.Name}
	h.iface = iface{w: w, addr: cfg.Addr}
	h.n = node{name: cfg.Name}
	h.n.id = w.nodeID()
	h.link = Link{w: w, name: cfg.Name + "/core", cfg: cfg.Link}
	h.ep = &nicEP{host: h, rawLink: rawLink{mtu: w.cfg.MTU}}
	if err := st.addNIC(h.ep, cfg.Addr); err != nil {
		return nil, fmt.Errorf("sim: host %q: %w", cfg.Name, err)
	}
	h.st = st
	w.hostByAddr[a] = h
	w.hosts = append(w.hosts, h)
	return h, nil
}

// Addr returns the interface's current address.
func (i *iface) Addr() netip.Addr { return i.addr }
