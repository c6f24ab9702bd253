package plots

// PresenceSummary is a device group's server-side presence results in
// summary.json. Its fields appear inline in the group's entry, and only for
// groups that can vanish or announce it (timeline presence events, random
// outages, a will); other groups' entries are unchanged (docs/results.md).
type PresenceSummary struct {
	// Outages counts the outages (device-off, coverage-loss,
	// app-suspended) that began while the server held a live session for
	// the device: the ones the server had something to detect.
	Outages int `json:"outages"`
	// ServerDetectionS is, over the outages the server noticed, the time
	// from the instant the device became unreachable to the server
	// declaring its session gone, in seconds.
	ServerDetectionS Quantiles `json:"server_detection_s"`
	// ServerDetectionByCause counts those detections by what ended the
	// session on the server: keepalive_timeout (MQTT keep-alive expiry at
	// 1.5 x), timed_out (TCP gave up on unacknowledged data), reset, a
	// transport's idle close, ...: the push server's disconnect reasons.
	ServerDetectionByCause map[string]int `json:"server_detection_by_cause"`
	// UndetectedOutages counts outages that ended before the server
	// noticed them.
	UndetectedOutages int `json:"undetected_outages"`
	// FalseOffline counts sessions the server declared gone while the
	// device was reachable (e.g. a NAT expiry reset the connection);
	// FalseOfflinePerDeviceDay is it per device-day.
	FalseOffline             int     `json:"false_offline"`
	FalseOfflinePerDeviceDay float64 `json:"false_offline_per_device_day"`
	// PresenceLost and PresenceBack count the will ("offline") and birth
	// ("online") messages the provider's presence subscriber received.
	PresenceLost int `json:"presence_lost"`
	PresenceBack int `json:"presence_back"`
}
