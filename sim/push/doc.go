// Package push is natsim's push protocol: an MQTT 3.1.1 push server and a
// device push client, both event-driven state machines on a sim.Clock and
// sim.Conn, with no goroutines and no wall clock, so the same code runs on
// the virtual clock (deterministic) and, later, on a real socket.
//
// The server holds one persistent session per device (clean-session false),
// enforces the client's keep-alive at 1.5 times its value (MQTT 3.1.1
// MQTT-3.1.2-24), lets a new connection take a session over from an old one
// the server has not yet noticed is dead, stores pushes for offline devices
// under an APNs-like, FCM-like or keep-all policy with a time to live, and
// redelivers unacknowledged QoS 1 pushes with DUP set on reconnect. A
// provider publishes with Server.Publish and learns of deliveries through a
// ServerObserver.
//
// The client dials through a Dialer, optionally emulates a TLS handshake's
// round trips and bytes (TLSModel), connects and subscribes, acknowledges
// pushes and drops duplicates, and sends PINGREQs when its
// strategy.Strategy says so. It detects dead connections by PINGRESP
// timeout or TCP errors, reconnects with a Backoff, and reports every
// state change to a ClientObserver with virtual timestamps.
//
// Packets are encoded and decoded with github.com/mochi-mqtt/server/v2/packets;
// the framing of the byte stream (Reader) is ours and bounded. See
// docs/push.md for the protocol subset and what is counted.
package push
