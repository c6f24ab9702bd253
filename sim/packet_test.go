package sim

import (
	"testing"
	"unsafe"
)

// TestPacketBuffers checks that a packet of any size gets room for
// exactly its bytes from the smallest buffer that holds them, and that
// recycling keeps nothing alive.
func TestPacketBuffers(t *testing.T) {
	for _, c := range []struct{ n, capacity int }{
		{0, packetInline}, {52, packetInline}, {packetInline, packetInline},
		{packetInline + 1, 256}, {256, 256}, {257, 512}, {600, 1024}, {1500, 2048}, {2048, 2048},
		{2049, 2049}, {9000, 9000},
	} {
		p := newPacket(c.n)
		if len(p.data) != c.n || cap(p.data) != c.capacity {
			t.Errorf("newPacket(%d): len %d cap %d, want len %d cap %d", c.n, len(p.data), cap(p.data), c.n, c.capacity)
		}
		pooled := c.n > packetInline && c.n <= 2048
		if pooled != (p.buf != nil) || pooled && len(*p.buf) != c.capacity {
			t.Errorf("newPacket(%d): pooled buffer %v, want one only for %d < n <= 2048", c.n, p.buf != nil, packetInline)
		}
		for i := range p.data {
			p.data[i] = byte(i)
		}
		putPacket(p)
		if p.data != nil || p.buf != nil || p.from != nil || p.dev != nil || p.host != nil || p.node != nil {
			t.Errorf("putPacket(%d) left a reference in the recycled packet", c.n)
		}
	}
}

// TestPacketRecordSize guards the size of a packet's record: every
// packet in flight holds one, so a mass reconnect's memory is counted in
// them (docs/engine.md, "Memory of a full-stack run").
func TestPacketRecordSize(t *testing.T) {
	if got := unsafe.Sizeof(packet{}); got > 208 {
		t.Errorf("packet record is %d bytes, want at most 208 (the 208-byte size class)", got)
	}
}
