package nat

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// NearestPresets returns up to three preset names (aliases included)
// nearest to name, best first, for "did you mean" messages: names within
// a third of name's length in edit distance (at least 2 edits), or that
// contain name, and at most 2 edits further than the nearest. Nil when
// nothing is near.
func NearestPresets(name string) []string {
	names := make([]string, 0, len(presetDefs)+len(presetAliases))
	for _, d := range presetDefs {
		names = append(names, d.info.Name)
	}
	for a := range presetAliases {
		names = append(names, a)
	}
	return nearest(name, names)
}

// NearestMixtures is NearestPresets for mixture names.
func NearestMixtures(name string) []string {
	names := make([]string, len(mixtures))
	for i, m := range mixtures {
		names[i] = m.Name
	}
	return nearest(name, names)
}

// DidYouMean formats suggestions as ` (did you mean "a" or "b"?)`, or
// returns "" when there are none.
func DidYouMean(names []string) string {
	if len(names) == 0 {
		return ""
	}
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	if len(q) == 1 {
		return " (did you mean " + q[0] + "?)"
	}
	return " (did you mean " + strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1] + "?)"
}

func nearest(name string, names []string) []string {
	type cand struct {
		name string
		d    int
	}
	limit := max(2, len(name)/3)
	var cs []cand
	for _, n := range names {
		d := editDistance(name, n)
		if d <= limit || (len(name) >= 3 && strings.Contains(n, name)) {
			cs = append(cs, cand{n, d})
		}
	}
	slices.SortFunc(cs, func(a, b cand) int { return cmp.Or(cmp.Compare(a.d, b.d), cmp.Compare(a.name, b.name)) })
	cs = slices.CompactFunc(cs, func(a, b cand) bool { return a.name == b.name })
	var out []string
	for _, c := range cs[:min(len(cs), 3)] {
		if c.d > cs[0].d+2 {
			break // much further than the best: noise
		}
		out = append(out, c.name)
	}
	return out
}

// editDistance is the Levenshtein distance between a and b, in bytes
// (preset names are ASCII).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			sub := prev[j-1]
			if a[i-1] != b[j-1] {
				sub++
			}
			cur[j] = min(sub, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// orSeePresets is the tail of an unknown-preset error: the suggestions,
// or a pointer to the list.
func orSeePresets(near []string) string {
	if d := DidYouMean(near); d != "" {
		return d
	}
	return " (see nat.Presets)"
}
