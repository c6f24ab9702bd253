package workload

import (
	"fmt"
	"slices"
	"time"

	"gonum.org/v1/gonum/stat"
)

// record is one notification in the ledger: when it was sent and first
// delivered (UnixNano; 0 = not yet), and how often it arrived.
type record struct {
	sent, delivered int64
	arrivals        uint32
}

// Ledger records what a provider sent and what devices received. It is
// indexed by the device and sequence number in each ID, so it needs about
// 24 bytes per notification and no per-message allocation.
type Ledger struct {
	ttl     time.Duration
	devices [][]record
	unknown int
}

// NewLedger returns a ledger; a notification delivered more than ttl after
// it was sent counts as expired (lost). ttl 0 means no TTL.
func NewLedger(ttl time.Duration) (*Ledger, error) {
	if ttl < 0 {
		return nil, fmt.Errorf("workload: ledger: ttl = %v must not be negative", ttl)
	}
	return &Ledger{ttl: ttl}, nil
}

// Sent records a notification leaving the provider. Sequence numbers of a
// device must be recorded in order, from 0.
func (l *Ledger) Sent(n Notification) error {
	dev, seq := SplitID(n.ID)
	if dev != n.Device {
		return fmt.Errorf("workload: ledger: notification %#x names device %d, its ID device %d", n.ID, n.Device, dev)
	}
	for int(dev) >= len(l.devices) {
		l.devices = append(l.devices, nil)
	}
	if int(seq) != len(l.devices[dev]) {
		return fmt.Errorf("workload: ledger: device %d sent seq %d, want %d", dev, seq, len(l.devices[dev]))
	}
	l.devices[dev] = append(l.devices[dev], record{sent: n.Sent.UnixNano()})
	return nil
}

// Delivered records notification id arriving at its device at at. A
// second arrival is a duplicate; an ID never sent is counted as unknown.
func (l *Ledger) Delivered(id uint64, at time.Time) {
	r := l.lookup(id)
	if r == nil {
		l.unknown++
		return
	}
	if r.arrivals == 0 {
		r.delivered = at.UnixNano()
	}
	r.arrivals++
}

func (l *Ledger) lookup(id uint64) *record {
	dev, seq := SplitID(id)
	if int(dev) >= len(l.devices) || int(seq) >= len(l.devices[dev]) {
		return nil
	}
	return &l.devices[dev][seq]
}

// Summary is the delivery accounting of a run, in the results' units.
type Summary struct {
	// Sent and Delivered count notifications (Delivered: at least once).
	Sent, Delivered int
	// Lost counts notifications never delivered by the end or delivered
	// past their TTL (Expired is the second part; Pending, a part of the
	// first, were still within their TTL at the end).
	Lost, Expired, Pending int
	// Duplicates counts arrivals after the first; Unknown, arrivals of IDs
	// never sent.
	Duplicates, Unknown int
	// DeliveryRatio is (Sent-Lost)/Sent, 0 when nothing was sent.
	DeliveryRatio float64
	// Latency quantiles of first deliveries (expired ones included), in
	// seconds; zero when nothing was delivered.
	LatencyP50S, LatencyP90S, LatencyP99S, LatencyMaxS, LatencyMeanS float64
}

// Latencies returns the first-delivery latencies in seconds, sorted.
func (l *Ledger) Latencies() []float64 {
	var out []float64
	for _, dev := range l.devices {
		for _, r := range dev {
			if r.arrivals > 0 {
				out = append(out, float64(r.delivered-r.sent)/1e9)
			}
		}
	}
	slices.Sort(out)
	return out
}

// Quantile returns the p-quantile (0 < p <= 1) of sorted data such as
// Latencies (gonum stat.Quantile, empirical), or 0 for no data.
func Quantile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	return stat.Quantile(p, stat.Empirical, sorted, nil)
}

// Summary computes the accounting at the end of the run.
func (l *Ledger) Summary(end time.Time) Summary {
	s := Summary{Unknown: l.unknown}
	e := end.UnixNano()
	for _, dev := range l.devices {
		for _, r := range dev {
			s.Sent++
			switch {
			case r.arrivals == 0:
				s.Lost++
				if l.ttl == 0 || e-r.sent < int64(l.ttl) {
					s.Pending++
				}
			default:
				s.Delivered++
				s.Duplicates += int(r.arrivals - 1)
				if l.ttl > 0 && r.delivered-r.sent > int64(l.ttl) {
					s.Lost++
					s.Expired++
				}
			}
		}
	}
	if s.Sent > 0 {
		s.DeliveryRatio = float64(s.Sent-s.Lost) / float64(s.Sent)
	}
	lat := l.Latencies()
	if len(lat) > 0 {
		s.LatencyP50S = Quantile(lat, 0.5)
		s.LatencyP90S = Quantile(lat, 0.9)
		s.LatencyP99S = Quantile(lat, 0.99)
		s.LatencyMaxS = lat[len(lat)-1]
		s.LatencyMeanS = stat.Mean(lat, nil)
	}
	return s
}
