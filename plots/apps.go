package plots

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
