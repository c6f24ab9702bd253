package scenarios

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Pos is a position in a scenario source: a file (or "--set" for a value
// given on the command line) and a 1-based line and column. Line 0 means the
// position is unknown.
type Pos struct {
	File   string
	Line   int
	Column int
}

// String returns "file:line:column", or just the file when the line is
// unknown.
func (p Pos) String() string {
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Column)
}

// Error is one problem found in a scenario: where, which field (a dotted
// path such as groups.phones.strategy, with [i] for list elements), and
// what is wrong.
type Error struct {
	Pos  Pos
	Path string
	Msg  string
}

// Error formats the problem as "file:line:column: path: message".
func (e *Error) Error() string {
	if e.Path == "" {
		return e.Pos.String() + ": " + e.Msg
	}
	return e.Pos.String() + ": " + e.Path + ": " + e.Msg
}

// ErrorList is every problem found in one load, sorted by position. A load
// that fails returns an ErrorList as its error.
type ErrorList []*Error

// Error joins the messages, one per line.
func (l ErrorList) Error() string {
	s := make([]string, len(l))
	for i, e := range l {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// Unwrap returns the individual errors, for errors.Is and errors.As.
func (l ErrorList) Unwrap() []error {
	out := make([]error, len(l))
	for i, e := range l {
		out[i] = e
	}
	return out
}

// sortDedup orders errors by file, line, column, path and message, and
// removes exact duplicates (a sweep reports the same bad value once).
func (l ErrorList) sortDedup() ErrorList {
	slices.SortStableFunc(l, func(a, b *Error) int {
		return cmp.Or(
			cmp.Compare(a.Pos.File, b.Pos.File),
			cmp.Compare(a.Pos.Line, b.Pos.Line),
			cmp.Compare(a.Pos.Column, b.Pos.Column),
			cmp.Compare(a.Path, b.Path),
			cmp.Compare(a.Msg, b.Msg),
		)
	})
	return slices.CompactFunc(l, func(a, b *Error) bool { return *a == *b })
}

// err returns the list as an error, or nil when it is empty.
func (l ErrorList) err() error {
	if len(l) == 0 {
		return nil
	}
	return l.sortDedup()
}
