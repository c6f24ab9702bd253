package nat

// CapacityModel names what bounds the number of subscribers a table can
// serve.
type CapacityModel uint8

// The capacity models, in the order Capacity tries them.
const (
	// CapacityPorts: no port blocks and no quota; every subscriber needs at
	// least one public port, so the pool holds addresses x ports of them.
	CapacityPorts CapacityModel = iota
	// CapacityBlocks: port block allocation; a subscriber holds at least
	// one block, so the pool holds addresses x (ports / block size).
	CapacityBlocks
	// CapacityQuota: a per-subscriber port quota without blocks; the pool
	// holds addresses x (ports / quota) subscribers using their full quota.
	CapacityQuota
	// CapacityMappings: the session cap MaxMappings is smaller than the
	// port model; every subscriber needs at least one session.
	CapacityMappings
)

// String returns "ports", "blocks", "quota" or "mappings".
func (m CapacityModel) String() string {
	return [...]string{"ports", "blocks", "quota", "mappings", "capacity(?)"}[min(int(m), 4)]
}

// Capacity is how many subscribers (inside addresses) a table can give a
// public port at the same time, and the figures that bound it.
type Capacity struct {
	// Subscribers is the bound.
	Subscribers int
	// Model says which figures bound it.
	Model CapacityModel
	// Addresses is the size of the public address pool.
	Addresses int
	// Ports is the number of public TCP/UDP ports per address.
	Ports int
	// BlockSize is the port block size (CapacityBlocks).
	BlockSize int
	// BlocksPerAddress is Ports / BlockSize, rounded down: a partial block
	// at the end of the range is never handed out (CapacityBlocks).
	BlocksPerAddress int
	// Quota is the per-subscriber port quota (CapacityQuota).
	Quota int
	// MaxMappings is the session cap (CapacityMappings).
	MaxMappings int
}

// Capacity returns the number of subscribers the configuration can serve
// at once, computed the way the table allocates: with port block
// allocation every subscriber takes a whole block from one address before
// it gets its first port (RFC 6888 REQ-4's per-subscriber limit, and the
// FD.io CSIT budget of 64 512 ports per address, research notes 2.5);
// without it, a quota reserves nothing, so the quota model counts the
// subscribers that can use their whole quota. ICMP echo identifiers are
// not ports (allocPoolPort) and do not count.
func (c Config) Capacity() Capacity {
	lo, hi := c.portRange()
	k := Capacity{Addresses: len(c.PublicAddrs), Ports: int(hi) - int(lo) + 1, Model: CapacityPorts}
	if lo == 0 || lo > hi {
		k.Ports = 0
	}
	switch {
	case c.Ports.BlockSize > 0:
		k.Model, k.BlockSize = CapacityBlocks, c.Ports.BlockSize
		k.BlocksPerAddress = k.Ports / k.BlockSize
		k.Subscribers = k.Addresses * k.BlocksPerAddress
	case c.Ports.PerSubscriber > 0:
		k.Model, k.Quota = CapacityQuota, c.Ports.PerSubscriber
		k.Subscribers = k.Addresses * (k.Ports / k.Quota)
	default:
		k.Subscribers = k.Addresses * k.Ports
	}
	if c.MaxMappings > 0 && c.MaxMappings < k.Subscribers {
		k.Model, k.MaxMappings, k.Subscribers = CapacityMappings, c.MaxMappings, c.MaxMappings
	}
	return k
}
