package harness

import "testing"

func TestParseExternalAllowsOnlyLoopback(t *testing.T) {
	for _, c := range []struct {
		url, want string
		remote    bool
		ok        bool
	}{
		{"mqtt://127.0.0.1:1883", "127.0.0.1:1883", false, true},
		{"tcp://localhost:1884", "localhost:1884", false, true},
		{"mqtt://[::1]:1883", "[::1]:1883", false, true},
		{"mqtt://192.0.2.1:1883", "", false, false},
		{"mqtt://broker.example:1883", "", false, false},
		{"mqtt://192.0.2.1:1883", "192.0.2.1:1883", true, true},
		{"mqtts://127.0.0.1:8883", "", false, false},
	} {
		got, err := parseExternal(c.url, c.remote)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("parseExternal(%q, %v) = %q, %v; want %q ok=%v", c.url, c.remote, got, err, c.want, c.ok)
		}
	}
}
