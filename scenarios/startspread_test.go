package scenarios

import (
	"testing"
	"time"
)

// TestStartSpreadErrors: a negative spread, or one longer than the run,
// is refused at its position.
func TestStartSpreadErrors(t *testing.T) {
	for _, tt := range []struct {
		name, src, want string
	}{
		{"negative", base + "    start_spread: -1s\n", `t.yaml:12:19: groups.phones.start_spread: must not be negative, got -1s`},
		{"longer than the run", base + "    start_spread: 2h\n",
			`t.yaml:12:19: groups.phones.start_spread: 2h is longer than the run (duration 1h): some devices would never start`},
	} {
		t.Run(tt.name, func(t *testing.T) { wantLoadError(t, tt.src, tt.want) })
	}
	s, err := Load("t.yaml", []byte(base+"    start_spread: 10m\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Groups["phones"].StartSpread; got != 10*time.Minute {
		t.Errorf("start_spread %v, want 10m", got)
	}
}
