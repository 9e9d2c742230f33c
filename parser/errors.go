package parser

import (
	"fmt"
	"sort"
	"strings"
)

// Pos is a position in a rule file: 1-based line and byte column.
type Pos struct {
	File string
	Line int
	Col  int
}

func (p Pos) String() string {
	if p.File == "" {
		return fmt.Sprintf("%d:%d", p.Line, p.Col)
	}
	if p.Line == 0 { // about the whole file: it could not be read
		return p.File
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// IsValid reports whether p points somewhere.
func (p Pos) IsValid() bool { return p.Line > 0 }

// Error is one diagnostic: where, what, and the source line it points into.
type Error struct {
	Pos  Pos
	Msg  string
	Line string // the source line, for the caret display; may be empty
}

func (e *Error) Error() string { return fmt.Sprintf("%s: error: %s", e.Pos, e.Msg) }

// Pretty renders the error as nft and gcc do: the message, the source line,
// and a caret under the column.
func (e *Error) Pretty() string {
	var b strings.Builder
	b.WriteString(e.Error())
	if e.Line != "" {
		b.WriteByte('\n')
		b.WriteString(e.Line)
		b.WriteByte('\n')
		// Keep tabs so the caret lines up in a terminal.
		for i := 0; i < e.Pos.Col-1 && i < len(e.Line); i++ {
			if e.Line[i] == '\t' {
				b.WriteByte('\t')
			} else {
				b.WriteByte(' ')
			}
		}
		b.WriteByte('^')
	}
	return b.String()
}

// MaxErrors bounds how many diagnostics one load reports.
const MaxErrors = 50

// ErrorList is every diagnostic of one load, in file order.
type ErrorList []*Error

func (l ErrorList) Error() string {
	switch len(l) {
	case 0:
		return "no errors"
	case 1:
		return l[0].Error()
	}
	return fmt.Sprintf("%s (and %d more errors)", l[0].Error(), len(l)-1)
}

// Pretty renders all errors with source lines and carets.
func (l ErrorList) Pretty() string {
	var b strings.Builder
	for i, e := range l {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Pretty())
	}
	return b.String()
}

func (l ErrorList) sort() {
	sort.SliceStable(l, func(i, j int) bool {
		a, b := l[i].Pos, l[j].Pos
		if a.File != b.File {
			return false // keep include order
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
}

// levenshtein is the edit distance between a and b, for "did you mean".
func levenshtein(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 30
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// suggest returns the candidate nearest to word, if it is close enough to be
// a plausible typo.
func suggest(word string, candidates []string) string {
	best, bestD := "", 1<<30
	for _, c := range candidates {
		if d := levenshtein(word, c); d < bestD {
			best, bestD = c, d
		}
	}
	limit := 2
	if len(word) <= 3 {
		limit = 1
	}
	if bestD <= limit && bestD > 0 {
		return best
	}
	return ""
}

// expected formats "found X, expected Y[; did you mean Z?]".
func expected(found string, what string, candidates []string) string {
	msg := fmt.Sprintf("found %s, expected %s", found, what)
	if s := suggest(strings.Trim(found, "`"), candidates); s != "" {
		msg = fmt.Sprintf("unknown keyword %s, did you mean `%s`? (expected %s)", found, s, what)
	}
	return msg
}
