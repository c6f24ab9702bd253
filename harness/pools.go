package harness

import (
	"fmt"
	"net/netip"
)

// smallPool is the most addresses (pool plus spares for
// public-address-change events) a shared layer draws from its network's
// own /24: 198.18.N.1-254 outside, 100.(64+N).255.1-254 inside a chain.
const smallPool = 254

// bigPools hands out pools larger than smallPool. The outermost layers'
// come one after another from 198.19.0.0/16 (RFC 2544 benchmarking space,
// the other half of the /15 small pools use), shared by every network; an
// inner layer's from 100.(96+N).0.0/16, the upper half of the RFC 6598
// shared space (home routers' outside addresses use the lower half).
type bigPools struct {
	next uint32 // next free offset in 198.19.0.0/16
}

// poolAddrs returns n addresses for the shared layer of network index
// net: the small-pool layout when n fits (so pools sized by a preset keep
// the addresses they always had), else a big pool.
func (b *bigPools) poolAddrs(net, n int, outer bool) ([]netip.Addr, error) {
	pool := make([]netip.Addr, 0, n)
	if n <= smallPool {
		for k := range n {
			if outer {
				pool = append(pool, netip.AddrFrom4([4]byte{198, 18, byte(net), byte(1 + k)}))
			} else {
				pool = append(pool, netip.AddrFrom4([4]byte{100, byte(64 + net), 255, byte(1 + k)}))
			}
		}
		return pool, nil
	}
	if outer {
		if b.next == 0 {
			b.next = 1 // skip 198.19.0.0
		}
		if int(b.next)+n > 1<<16-1 {
			return nil, fmt.Errorf("%d public addresses (with spares for public-address-change events) do not fit: the outermost shared layers of all networks share 65,534 addresses, %d are taken", n, b.next-1)
		}
		for range n {
			pool = append(pool, netip.AddrFrom4([4]byte{198, 19, byte(b.next >> 8), byte(b.next)}))
			b.next++
		}
		return pool, nil
	}
	if net >= 32 || n > 1<<16-2 {
		return nil, fmt.Errorf("%d public addresses on an inner layer of network %d: more than %d need one of the first 32 networks and at most 65,534 addresses", n, net, smallPool)
	}
	for k := range n {
		o := uint32(k + 1)
		pool = append(pool, netip.AddrFrom4([4]byte{100, byte(96 + net), byte(o >> 8), byte(o)}))
	}
	return pool, nil
}
