package quiclab

import (
	"sync"
	"time"

	"github.com/quic-go/quic-go/qlog"
	"github.com/quic-go/quic-go/qlogwriter"
)

// trace receives quic-go's qlog events as Go values (no JSON) for one
// endpoint of a story and turns the ones the timeline needs into Events.
type trace struct {
	client bool
	// keepAlive is the client's KeepAlivePeriod: a PING sent after that
	// long without receiving anything is a keep-alive, any other PING a
	// loss-recovery probe.
	keepAlive time.Duration
	start     time.Time
	mu        *sync.Mutex
	events    *[]Event
	received  time.Duration // when the last packet arrived
}

var _ qlogwriter.Trace = (*trace)(nil)

// AddProducer returns the trace itself: it keeps no per-producer state.
func (t *trace) AddProducer() qlogwriter.Recorder { return t }

// Close implements qlogwriter.Recorder.
func (t *trace) Close() error { return nil }

// RecordEvent implements qlogwriter.Recorder.
func (t *trace) RecordEvent(ev qlogwriter.Event) {
	at := time.Since(t.start)
	var out []Event
	switch e := ev.(type) {
	case qlog.PacketReceived:
		t.mu.Lock()
		t.received = at
		t.mu.Unlock()
	case qlog.PacketSent:
		ping, challenge, response := false, false, false
		for _, f := range e.Frames {
			switch f.Frame.(type) {
			case *qlog.PingFrame:
				ping = true
			case *qlog.PathChallengeFrame:
				challenge = true
			case *qlog.PathResponseFrame:
				response = true
			}
		}
		t.mu.Lock()
		quiet := at - t.received
		t.mu.Unlock()
		// quic-go's keep-alive comes KeepAlivePeriod (or 1.5 PTO, which is
		// shorter here) after the last packet received; allow for timer
		// and scheduling jitter.
		if t.client && ping && !e.IsMTUProbePacket && t.keepAlive > 0 && quiet >= t.keepAlive-100*time.Millisecond {
			out = append(out, Event{At: at, Kind: KindPing})
		}
		if challenge {
			out = append(out, Event{At: at, Kind: KindPathChallenge, Detail: side(t.client)})
		}
		if response {
			out = append(out, Event{At: at, Kind: KindPathResponse, Detail: side(t.client)})
		}
	case qlog.TupleAssigned:
		// The active path's tuple ("") is assigned when the server
		// switches to a new client address.
		if !t.client && e.TupleID == "" {
			out = append(out, Event{At: at, Kind: KindMigrated, Detail: e.Remote.IPv4.String()})
		}
	case qlog.ConnectionClosed:
		out = append(out, Event{At: at, Kind: KindClosed, Detail: side(t.client) + " " + string(e.Trigger)})
	}
	if len(out) == 0 {
		return
	}
	t.mu.Lock()
	*t.events = append(*t.events, out...)
	t.mu.Unlock()
}

func side(client bool) string {
	if client {
		return "client"
	}
	return "server"
}
