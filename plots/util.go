package plots

import (
	"bytes"
	"math"
)

// nilFloat is what an empty CSV cell reads as: not a number, so that a
// missing value is never mistaken for zero.
var nilFloat = math.NaN()

func bytesContains(b, sub []byte) bool { return bytes.Contains(b, sub) }

var nan = math.NaN()

// inf makes an empty data range: plot.Add takes min and max with it, so
// +inf/-inf leave the axes alone where NaN would poison them.
var inf = math.Inf(1)
