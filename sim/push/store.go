package push

import (
	"fmt"
	"strings"
	"time"
)

// OfflinePolicy decides what the server keeps for a device that is not
// connected (or whose inflight window is full).
type OfflinePolicy uint8

const (
	// KeepAll keeps every push until it expires, up to the store limit
	// (then the oldest is dropped as overflow). A plain MQTT broker with a
	// persistent session behaves like this.
	KeepAll OfflinePolicy = iota
	// KeepLast keeps only the newest undelivered push per topic, as APNs
	// stores one notification per app on a device and discards older ones
	// (Apple, "Sending notification requests to APNs": "APNs stores only
	// one notification per bundle ID").
	KeepLast
	// KeepN keeps up to the store limit (100 by default, FCM's limit on
	// stored non-collapsible messages; firebase.google.com/docs/
	// cloud-messaging "Non-collapsible and collapsible messages"). Past
	// the limit it drops the oldest, or everything when FlushOnOverflow
	// is set (FCM discards all stored messages and tells the app
	// "deleted_messages").
	KeepN
)

// DefaultKeepN is FCM's limit of 100 stored messages per device.
const DefaultKeepN = 100

// DefaultKeepAllLimit bounds KeepAll so that a device that never comes back
// cannot grow the server's memory without limit.
const DefaultKeepAllLimit = 10000

// String returns the policy's name in scenario files.
func (p OfflinePolicy) String() string {
	switch p {
	case KeepAll:
		return "keep-all"
	case KeepLast:
		return "keep-last"
	case KeepN:
		return "keep-n"
	}
	return fmt.Sprintf("offline-policy(%d)", uint8(p))
}

// ParseOfflinePolicy reads a policy name: keep-all, keep-last (alias apns),
// keep-n (alias fcm).
func ParseOfflinePolicy(s string) (OfflinePolicy, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "keep-all", "all", "":
		return KeepAll, nil
	case "keep-last", "last", "apns":
		return KeepLast, nil
	case "keep-n", "n", "fcm":
		return KeepN, nil
	}
	return 0, fmt.Errorf("push: unknown offline policy %q (want keep-all, keep-last or keep-n)", s)
}

// DropReason says why the server discarded a push without delivering it.
type DropReason uint8

// Drop reasons.
const (
	DropNone DropReason = iota
	// DropTTL: the push's time to live ran out before it was written (or,
	// for an unacknowledged QoS 1 push, before it could be redelivered).
	DropTTL
	// DropOverflow: the offline store was full.
	DropOverflow
	// DropReplaced: a newer push on the same topic replaced it (KeepLast).
	DropReplaced
	// DropNoSubscriber: the device is subscribed, but not to the topic.
	DropNoSubscriber
	// DropSessionEnded: the session was discarded (clean session).
	DropSessionEnded
	numDrops
)

var dropNames = [numDrops]string{"none", "ttl", "overflow", "replaced", "no_subscriber", "session_ended"}

// String returns the snake_case name used in results.
func (d DropReason) String() string {
	if d < numDrops {
		return dropNames[d]
	}
	return fmt.Sprintf("drop(%d)", uint8(d))
}

// MarshalText makes DropReason a readable JSON map key and value.
func (d DropReason) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// message is one push held by the server.
type message struct {
	id        MsgID
	topic     string
	payload   []byte // with envelope
	qos       byte
	published time.Time
	expires   time.Time // zero: never
	pid       uint16    // MQTT packet id once assigned (QoS 1)
	conn      uint64    // sequence number of the connection last written to
}

func (m *message) expired(now time.Time) bool {
	return !m.expires.IsZero() && !now.Before(m.expires)
}

// msgQueue is a FIFO with O(1) amortised pops and in-order removal.
type msgQueue struct {
	items []*message
	head  int
}

func (q *msgQueue) len() int { return len(q.items) - q.head }

func (q *msgQueue) peek() *message { return q.items[q.head] }

func (q *msgQueue) push(m *message) { q.items = append(q.items, m) }

func (q *msgQueue) pop() *message {
	m := q.items[q.head]
	q.items[q.head] = nil
	q.head++
	if q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
	} else if q.head > 64 && q.head*2 > len(q.items) {
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	}
	return m
}

// removeIf deletes the messages for which drop is true, keeping order, and
// calls gone for each in order.
func (q *msgQueue) removeIf(drop func(*message) bool, gone func(*message)) {
	out := q.items[:0]
	for _, m := range q.items[q.head:] {
		if drop(m) {
			gone(m)
			continue
		}
		out = append(out, m)
	}
	clear(q.items[len(out):])
	q.items, q.head = out, 0
}

// validTopicName checks a topic a push is published to (MQTT 3.1.1
// §4.7.1, §4.7.3): non-empty, no wildcards, no NUL, at most 65535 bytes.
func validTopicName(t string) error {
	if t == "" || len(t) > 65535 {
		return fmt.Errorf("topic name length %d must be in [1, 65535]", len(t))
	}
	if strings.ContainsAny(t, "+#\x00") {
		return fmt.Errorf("topic name %q contains a wildcard or NUL", t)
	}
	return nil
}

// validTopicFilter checks a subscription filter (MQTT 3.1.1 §4.7.1): '#'
// only as the whole last level, '+' only as a whole level.
func validTopicFilter(f string) error {
	if f == "" || len(f) > 65535 || strings.ContainsRune(f, 0) {
		return fmt.Errorf("topic filter %q is empty, too long or contains NUL", f)
	}
	levels := strings.Split(f, "/")
	for i, l := range levels {
		if strings.Contains(l, "#") && (l != "#" || i != len(levels)-1) {
			return fmt.Errorf("topic filter %q: '#' must be the whole last level", f)
		}
		if strings.Contains(l, "+") && l != "+" {
			return fmt.Errorf("topic filter %q: '+' must be a whole level", f)
		}
	}
	return nil
}

// topicMatch reports whether topic matches filter (MQTT 3.1.1 §4.7). Topics
// starting with '$' do not match filters starting with a wildcard
// (MQTT-4.7.2-1).
func topicMatch(filter, topic string) bool {
	if filter == topic {
		return true
	}
	if strings.HasPrefix(topic, "$") && (strings.HasPrefix(filter, "+") || strings.HasPrefix(filter, "#")) {
		return false
	}
	for {
		fl, frest, fmore := strings.Cut(filter, "/")
		if fl == "#" {
			return true
		}
		tl, trest, tmore := strings.Cut(topic, "/")
		if fl != "+" && fl != tl {
			return false
		}
		if !fmore || !tmore {
			// "a/#" also matches "a" (MQTT 3.1.1 §4.7.1.2).
			return fmore == tmore || (fmore && frest == "#")
		}
		filter, topic = frest, trest
	}
}
