package scenarios

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// durationPattern is what a duration in a scenario file looks like: one or
// more number+unit pairs, units as in Go's time.ParseDuration plus "d" for
// days of 24 h ("1d12h", "30s", "250ms"). A bare number is not a duration.
const durationPattern = `^-?([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h|d))+$`

var durationRE = regexp.MustCompile(durationPattern)

// Day is the "d" unit of scenario durations: exactly 24 hours (virtual time
// has no daylight-saving days).
const Day = 24 * time.Hour

// ParseDuration parses a scenario duration: Go duration syntax with a
// mandatory unit on every number, plus "d" for 24 h. "30" is an error.
func ParseDuration(s string) (time.Duration, error) {
	if !durationRE.MatchString(s) {
		if _, err := strconv.ParseFloat(s, 64); err == nil {
			return 0, fmt.Errorf("duration %q has no unit (write %ss, %sm, %sh or %sd)", s, s, s, s, s)
		}
		return 0, fmt.Errorf("invalid duration %q (examples: 30s, 4m30s, 2h, 1d)", s)
	}
	neg := strings.HasPrefix(s, "-")
	rest := strings.TrimPrefix(s, "-")
	var total time.Duration
	// Split off day components, which time.ParseDuration does not know.
	for {
		i := strings.IndexAny(rest, "d")
		if i < 0 {
			break
		}
		// The number before "d" starts after the previous unit letter.
		j := strings.LastIndexFunc(rest[:i], func(r rune) bool { return !(r >= '0' && r <= '9' || r == '.') }) + 1
		f, err := strconv.ParseFloat(rest[j:i], 64)
		if err != nil || j != 0 {
			return 0, fmt.Errorf("invalid duration %q (days must come first: 1d12h)", s)
		}
		if f*float64(Day) > math.MaxInt64/2 {
			return 0, fmt.Errorf("duration %q is too long", s)
		}
		total += time.Duration(f * float64(Day))
		rest = rest[i+1:]
	}
	if rest != "" {
		d, err := time.ParseDuration(rest)
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q: %v", s, strings.TrimPrefix(err.Error(), "time: "))
		}
		if d > 0 && total > math.MaxInt64-d {
			return 0, fmt.Errorf("duration %q is too long", s)
		}
		total += d
	}
	if neg {
		total = -total
	}
	return total, nil
}

// FormatDuration writes d the way scenario files write it: whole days as
// "2d", otherwise Go's form without trailing zero units ("1h", "4m30s").
// ParseDuration(FormatDuration(d)) == d.
func FormatDuration(d time.Duration) string {
	if d != 0 && d%Day == 0 {
		return strconv.FormatInt(int64(d/Day), 10) + "d"
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
