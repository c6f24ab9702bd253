package sim

import (
	"time"

	"github.com/natsim/natsim/nat"
)

// PassThrough is a middlebox that forwards every packet unchanged and
// never expires anything, for tests and for paths without a NAT.
type PassThrough struct{}

// Process implements nat.Middlebox: forward.
func (PassThrough) Process(time.Time, nat.Direction, []byte) nat.Verdict {
	return nat.Verdict{Forward: true}
}

// NextDeadline implements nat.Middlebox: nothing pending.
func (PassThrough) NextDeadline() (time.Time, bool) { return time.Time{}, false }

// Expire implements nat.Middlebox: nothing to do.
func (PassThrough) Expire(time.Time) []nat.Packet { return nil }

var _ nat.Middlebox = PassThrough{}
