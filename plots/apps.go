package plots

import (
	"fmt"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// AppsSummary is the part of a group's summary.json entry that exists when
// its devices carry apps (scenario groups.X.apps): per-app delivery, the
// connections that carry the apps, and the NAT ports each device holds.
// Every field is omitted for a group without apps, so such results are
// unchanged.
type AppsSummary struct {
	// ConnectionsPerDevice is how many push connections each device keeps:
	// one shared connection (if any app uses it) plus one per own-connection
	// app.
	ConnectionsPerDevice int `json:"connections_per_device,omitempty"`
	// NATPortsPerSubscriber is the distribution over the group's devices of
	// the most NAT mappings (public ports) a device held at once at its
	// network's outermost NAT (the CGNAT, whose quota is per subscriber).
	NATPortsPerSubscriber *Quantiles `json:"nat_ports_per_subscriber,omitempty"`
	// Apps are the group's apps, in scenario order.
	Apps []AppSummary `json:"apps,omitempty"`
	// Connections are the devices' push connections: "shared" (the
	// device's one connection, when any app shares it) first, then one per
	// own-connection app, named after it.
	Connections []ConnectionSummary `json:"connections,omitempty"`
}

// AppSummary is one app of a group in summary.json: the delivery of its
// pushes and what its own connection costs (zero for an app on the shared
// connection, whose costs are the shared connection's).
type AppSummary struct {
	Name string `json:"name"`
	// Connection is "shared" or "own".
	Connection      string    `json:"connection"`
	Strategy        string    `json:"strategy"`
	PushesSent      int       `json:"pushes_sent"`
	PushesDelivered int       `json:"pushes_delivered"`
	DeliveryRatio   float64   `json:"delivery_ratio"`
	OnTimeRatio     float64   `json:"ontime_ratio"`
	LatencyS        Quantiles `json:"latency_s"`
	// KeepalivesPerDeviceHour counts the keep-alives of the app's own
	// connection per device-hour (0 for a shared app).
	KeepalivesPerDeviceHour float64 `json:"keepalives_per_device_hour"`
	// Reconnects counts its own connection's re-establishments.
	Reconnects int `json:"reconnects"`
	// EnergyJPerDeviceDay is the radio energy above idle its own
	// connection's packets caused, per device-day (0 for a shared app).
	EnergyJPerDeviceDay float64 `json:"energy_j_per_device_day"`
	// Server is the host:port of an own app's push server (its provider's,
	// shared by the app in every group); absent for a shared app.
	Server string `json:"server,omitempty"`
	// Transport is an own app's transport, "tcp" or "quic"; absent for a
	// shared app.
	Transport string `json:"transport,omitempty"`
	// QUICMigrations, QUICIdleCloses and QUICStatelessResets count an own
	// app's QUIC connection events (as a QUIC group's); absent on TCP.
	QUICMigrations      *int `json:"quic_migrations,omitempty"`
	QUICIdleCloses      *int `json:"quic_idle_closes,omitempty"`
	QUICStatelessResets *int `json:"quic_stateless_resets,omitempty"`
}

// ConnectionSummary is one push connection of a group's devices in
// summary.json: its keep-alives, reconnects and the radio energy its
// packets caused, by cause (the device's idle energy belongs to no
// connection).
type ConnectionSummary struct {
	// Name is "shared" or the app that owns the connection.
	Name                    string  `json:"name"`
	Strategy                string  `json:"strategy"`
	Apps                    int     `json:"apps"`
	KeepalivesPerDeviceHour float64 `json:"keepalives_per_device_hour"`
	Reconnects              int     `json:"reconnects"`
	ConnectedRatio          float64 `json:"connected_ratio"`
	EnergyJPerDeviceDay     float64 `json:"energy_j_per_device_day"`
	// EnergyByCauseJPerDeviceDay maps keepalive, push, reconnect and other
	// to joules per device-day.
	EnergyByCauseJPerDeviceDay map[string]float64 `json:"energy_by_cause_j_per_device_day"`
}

// appsCauses are the causes of a connection's energy, bottom to top.
var appsCauses = []string{"keepalive", "push", "reconnect", "other"}

// AppsEnergy draws, for every group whose devices carry apps, the radio
// energy per device-day of each of its push connections (the shared one,
// named "shared", and each app's own) stacked by cause, the groups side by
// side: one shared connection against one per app. Each group is labelled
// with its devices' total above idle (idle paging belongs to no
// connection). Groups without apps are left out; it is an error when no
// group has apps.
func AppsEnergy(groups []GroupSummary) (*Figure, error) {
	type bar struct {
		label string
		c     *ConnectionSummary
	}
	var bars []bar
	var labels []marks // one per group, centred above its bars
	for gi := range groups {
		g := &groups[gi]
		if len(g.Connections) == 0 {
			continue
		}
		if len(bars) > 0 {
			bars = append(bars, bar{}) // a gap between groups
		}
		first := len(bars)
		// The group's label, its devices' total, sits above its tallest bar.
		var sum, tallest float64
		for ci := range g.Connections {
			c := &g.Connections[ci]
			var h float64
			for _, cause := range appsCauses {
				v := c.EnergyByCauseJPerDeviceDay[cause]
				if !finite(v) || v < 0 {
					return nil, fmt.Errorf("plots: apps energy: group %s: connection %s: energy_by_cause_j_per_device_day.%s = %g", g.Name, c.Name, cause, v)
				}
				h += v
			}
			sum += h
			tallest = max(tallest, h)
			bars = append(bars, bar{label: c.Name, c: c})
		}
		m := marks{Text: smallText(colBlack), X: []float64{float64(first+len(bars)-1) / 2}, Y: []float64{tallest},
			Labels: []string{fmt.Sprintf("%s\n%.0f J", g.Name, sum)}}
		m.Offset = vg.Point{X: -m.Text.Width(g.Name) / 2, Y: vg.Points(3)}
		labels = append(labels, m)
	}
	if len(bars) == 0 {
		return nil, fmt.Errorf("plots: apps energy: no group has apps")
	}
	p := newPlot("Energy by connection and cause, above idle", "", "energy (J per device-day)")
	leg := newSideLegend()
	width := vg.Points(min(30, 300/float64(len(bars))))
	// One stack of bar charts per group, placed at the group's first
	// position, so that the gap between groups draws nothing.
	var first []*plotter.BarChart // the first group's, for the legend
	for start := 0; start < len(bars); {
		end := start
		for end < len(bars) && bars[end].c != nil {
			end++
		}
		var below *plotter.BarChart
		for ci, cause := range appsCauses {
			vals := make(plotter.Values, end-start)
			for i := range vals {
				vals[i] = bars[start+i].c.EnergyByCauseJPerDeviceDay[cause]
			}
			ch, err := causeBar(vals, width, cause, ci, below)
			if err != nil {
				return nil, fmt.Errorf("plots: apps energy: %w", err)
			}
			ch.XMin = float64(start)
			below = ch
			p.Add(ch)
			if start == 0 {
				first = append(first, ch)
			}
		}
		start = end + 1
	}
	for i := len(first) - 1; i >= 0; i-- { // legend top-down like the stack
		leg.add(appsCauses[i], first[i])
	}
	notes := make([]any, len(labels))
	for i, m := range labels {
		p.Add(m)
		notes[i] = m
	}
	p.Y.Min = 0
	p.Y.Max *= 1.2 // room for the group labels
	names := make([]string, len(bars))
	for i, b := range bars {
		names[i] = b.label
	}
	p.NominalX(names...)
	return &Figure{Name: "apps-energy", Panels: []*plot.Plot{p}, legend: leg, sideW: leg.width(), notes: notes}, nil
}

// hasApps reports whether a group of a summary has apps (connections to
// draw): the apps-energy figure is drawn only then.
func hasApps(groups []GroupSummary) bool {
	for i := range groups {
		if len(groups[i].Connections) > 0 {
			return true
		}
	}
	return false
}
