package nat

// protoSlot maps a protocol to its sequential-cursor slot.
func protoSlot(p Protocol) int {
	switch p {
	case ProtoTCP:
		return 0
	case ProtoUDP:
		return 1
	}
	return 2
}

// portRequest describes the binding a public port is wanted for: the
// inside endpoint, the remote of its first session, and whether the port
// this inside endpoint held last is refused (MidstreamPickupNewPort).
type portRequest struct {
	p        Protocol
	in       [4]byte
	inPort   uint16
	rem      [4]byte
	remPort  uint16
	now      int64
	avoidOwn bool
}

// portFree reports whether a public endpoint may be given to the new
// binding req asks for.
func (t *Table) portFree(pk portKey, req *portRequest) bool {
	if t.unsolicitedClash(pk, req.rem, req.remPort) {
		return false // nf_nat_used_tuple: the reply tuple is taken
	}
	bi, ok := t.ports[pk]
	if !ok {
		return true
	}
	b := &t.binds[bi]
	if b.refs > 0 {
		return false
	}
	if req.avoidOwn && b.inAddr == req.in && b.inPort == req.inPort {
		return false
	}
	now := req.now
	// RFC 6888 REQ-8: a released port waits HoldDown before reuse.
	return now-b.released >= int64(t.cfg.Ports.HoldDown)
}

// allocResult says why allocation failed.
type allocResult uint8

const (
	allocOK allocResult = iota
	allocQuota
	allocExhausted
)

// allocate picks a public endpoint for a new binding of inside endpoint
// (in, inPort) and records it. It returns the pool index and port.
func (t *Table) allocate(p Protocol, in [4]byte, inPort uint16, rem [4]byte, remPort uint16, now int64, avoidOwn bool) (uint16, uint16, allocResult) {
	req := &portRequest{p: p, in: in, inPort: inPort, rem: rem, remPort: remPort, now: now, avoidOwn: avoidOwn}
	sub := t.subs[in]
	if sub == nil {
		sub = &subscriber{addrIdx: -1}
		t.subs[in] = sub
	}
	fail := func(r allocResult) (uint16, uint16, allocResult) {
		if sub.ports == 0 && len(sub.blocks) == 0 {
			delete(t.subs, in)
		}
		return 0, 0, r
	}
	if q := t.cfg.Ports.PerSubscriber; q > 0 && int(sub.ports) >= q {
		return fail(allocQuota)
	}
	var ai, port uint16
	var ok bool
	if t.cfg.Ports.BlockSize > 0 {
		ai, port, ok = t.allocBlockPort(sub, req)
		if !ok {
			return fail(allocQuota)
		}
	} else {
		ai, port, ok = t.allocPoolPort(sub, req)
		if !ok {
			return fail(allocExhausted)
		}
	}
	pk := portKey{addr: t.pool[ai].addr, port: port, proto: uint8(p)}
	b := binding{inAddr: in, inPort: inPort, refs: 0}
	bk := t.bindingKey(p, in, inPort, rem, remPort)
	b.remAddr, b.remPort = bk.raddr, bk.rport
	if bi, ok := t.ports[pk]; ok {
		t.binds[bi] = b // reuse a released binding's slot
	} else {
		t.ports[pk] = uint32(len(t.binds))
		t.binds = append(t.binds, b)
	}
	t.byInside[bk] = uint32(ai)<<16 | uint32(port)
	t.bindings++
	sub.ports++
	return ai, port, allocOK
}

// addrFor returns the pool address for a subscriber's next binding.
func (t *Table) addrFor(sub *subscriber) int {
	if len(t.pool) == 1 {
		return 0
	}
	if t.cfg.PairedPooling {
		if sub.addrIdx < 0 {
			// Round robin spreads subscribers evenly and deterministically.
			sub.addrIdx = int32(t.nextPair % len(t.pool))
			t.nextPair++
		}
		return int(sub.addrIdx)
	}
	return t.rng.IntN(len(t.pool))
}

// allocPoolPort picks a port without PBA.
func (t *Table) allocPoolPort(sub *subscriber, req *portRequest) (uint16, uint16, bool) {
	lo, hi := t.cfg.portRange()
	if req.p == ProtoICMP {
		// Echo identifiers are not ports: Linux keeps any free one
		// (nf_nat_icmp), so the whole 16-bit space is available.
		lo, hi = 0, 0xffff
	}
	first := t.addrFor(sub)
	tries := 1
	if !t.cfg.PairedPooling {
		tries = len(t.pool) // arbitrary pooling may use any address
	}
	for k := 0; k < tries; k++ {
		ai := uint16((first + k) % len(t.pool))
		if port, ok := t.pickPort(ai, req, lo, hi); ok {
			return ai, port, true
		}
	}
	return 0, 0, false
}

// pickPort chooses a free port in lo..hi on pool address ai.
func (t *Table) pickPort(ai uint16, req *portRequest, lo, hi uint16) (uint16, bool) {
	pa := &t.pool[ai]
	p, inPort := req.p, req.inPort
	free := func(port uint16) bool {
		return t.portFree(portKey{addr: pa.addr, port: port, proto: uint8(p)}, req)
	}
	n := int(hi-lo) + 1
	mode := t.cfg.Ports.Assignment
	if mode == PortPreserve {
		if inPort >= lo && inPort <= hi && free(inPort) {
			return inPort, true
		}
		mode = PortRandom // Linux falls back to a pseudo-random port
	}
	start := 0
	switch mode {
	case PortSequential:
		slot := protoSlot(p)
		if c := pa.cursor[slot]; c >= lo && c <= hi {
			start = int(c-lo) + 1
		}
	case PortRandom:
		for range 16 {
			port := lo + uint16(t.rng.IntN(n))
			if free(port) {
				return port, true
			}
		}
		start = t.rng.IntN(n)
	}
	for k := 0; k < n; k++ {
		port := lo + uint16((start+k)%n)
		if free(port) {
			if mode == PortSequential {
				pa.cursor[protoSlot(p)] = port
			}
			return port, true
		}
	}
	return 0, false
}

// allocBlockPort picks a port from the subscriber's PBA blocks, taking a
// new block when they are full and the subscriber may hold another.
func (t *Table) allocBlockPort(sub *subscriber, req *portRequest) (uint16, uint16, bool) {
	size := uint16(t.cfg.Ports.BlockSize)
	for i := range sub.blocks {
		blk := &sub.blocks[i]
		if port, ok := t.pickPort(blk.addrIdx, req, blk.start, blk.start+size-1); ok {
			blk.inUse++
			return blk.addrIdx, port, true
		}
	}
	if len(sub.blocks) >= t.cfg.blocksPerSubscriber() {
		return 0, 0, false
	}
	ai := t.addrFor(sub)
	start, ok := t.takeBlock(uint16(ai), req.now)
	if !ok && !t.cfg.PairedPooling {
		for k := 1; k < len(t.pool) && !ok; k++ {
			ai = (ai + 1) % len(t.pool)
			start, ok = t.takeBlock(uint16(ai), req.now)
		}
	}
	if !ok {
		return 0, 0, false
	}
	sub.blocks = append(sub.blocks, pbaBlock{start: start, addrIdx: uint16(ai)})
	blk := &sub.blocks[len(sub.blocks)-1]
	port, ok := t.pickPort(blk.addrIdx, req, start, start+size-1)
	if !ok {
		// Every port of the new block is in hold-down; keep the block.
		return 0, 0, false
	}
	blk.inUse++
	return blk.addrIdx, port, true
}

// takeBlock removes a free block from pool address ai, first returning
// blocks whose idle lifetime has passed to the free list.
func (t *Table) takeBlock(ai uint16, now int64) (uint16, bool) {
	pa := &t.pool[ai]
	if !pa.blocksInit {
		lo, hi := t.cfg.portRange()
		size := t.cfg.Ports.BlockSize
		// Highest first so that popping from the end hands out low blocks first.
		for s := int(lo) + ((int(hi)-int(lo)+1)/size-1)*size; s >= int(lo); s -= size {
			pa.freeBlocks = append(pa.freeBlocks, uint16(s))
		}
		pa.blocksInit = true
	}
	if len(pa.freeBlocks) == 0 {
		t.reclaimBlocks(now)
	}
	n := len(pa.freeBlocks)
	if n == 0 {
		return 0, false
	}
	s := pa.freeBlocks[n-1]
	pa.freeBlocks = pa.freeBlocks[:n-1]
	return s, true
}

// releasePort notes that a binding left its PBA block.
func (t *Table) releasePort(sub *subscriber, in [4]byte, pk portKey, now int64) {
	if t.cfg.Ports.BlockSize == 0 {
		return
	}
	ai, ok := t.poolIndex[pk.addr]
	if !ok {
		return
	}
	size := uint16(t.cfg.Ports.BlockSize)
	for i := range sub.blocks {
		blk := &sub.blocks[i]
		if blk.addrIdx != ai || pk.port < blk.start || pk.port > blk.start+size-1 {
			continue
		}
		blk.inUse--
		if blk.inUse == 0 {
			blk.emptySince = now
			if len(t.pending) >= t.pendingCap {
				t.dropStalePending(now)
			}
			t.pending = append(t.pending, pendingBlock{owner: in, start: blk.start, addr: ai, since: now})
		}
		return
	}
}

// emptyBlock finds the block a pending record names and reports whether
// the record still holds: j < 0 when the block is gone, back in use, or
// emptied again since (a newer record then holds).
func (t *Table) emptyBlock(pb pendingBlock) (sub *subscriber, j int) {
	sub = t.subs[pb.owner]
	if sub == nil {
		return nil, -1
	}
	for i, blk := range sub.blocks {
		if blk.start == pb.start && blk.addrIdx == pb.addr {
			if blk.inUse != 0 || blk.emptySince != pb.since {
				return sub, -1
			}
			return sub, i
		}
	}
	return sub, -1
}

// dropStalePending removes the records reclaimBlocks would skip: a block
// emptied again gets a new record and the old one goes stale, so without
// this the list would grow with every reconnection until an address runs
// out of blocks. A record from before now that is stale now stays stale
// (a block's emptySince only moves forward), so reclaim order is kept.
func (t *Table) dropStalePending(now int64) {
	keep := t.pending[:0]
	for _, pb := range t.pending {
		if _, j := t.emptyBlock(pb); j < 0 && pb.since < now {
			continue
		}
		keep = append(keep, pb)
	}
	clear(t.pending[len(keep):])
	t.pending = keep
	t.pendingCap = 2*len(keep) + 1024
}

// reclaimBlocks frees PBA blocks that have been empty for BlockIdle.
// Called only when a pool address runs out of blocks, so the cost is
// paid by allocation, never by the packet fast path.
func (t *Table) reclaimBlocks(now int64) {
	keep := t.pending[:0]
	for _, pb := range t.pending {
		sub, j := t.emptyBlock(pb)
		if j < 0 {
			continue // stale
		}
		if now-pb.since < int64(t.cfg.Ports.BlockIdle) {
			keep = append(keep, pb)
			continue
		}
		sub.blocks = append(sub.blocks[:j], sub.blocks[j+1:]...)
		t.pool[pb.addr].freeBlocks = append(t.pool[pb.addr].freeBlocks, pb.start)
		if sub.ports == 0 && len(sub.blocks) == 0 {
			delete(t.subs, pb.owner)
		}
	}
	t.pending = keep
}
