// Strings of re-parsed rules, apart from their source (memo.go).

package parser

import (
	"reflect"
	"strings"
)

// A parse's strings (names, comments, a rule's text) are substrings of
// the file it read, which they keep in memory. A rule that later parses
// reuse keeps them for as long as it is reused: after many reloads, each
// changing a few rules, every reload's file would stay in memory for the
// sake of the few rules it parsed. So a ParseWith that parsed few rules
// itself gives those rules copies of their strings; its file is then kept
// only by its skeleton, which the next parse does not reuse.

// cloneFresh gives the reusable rules this parse made (not taken from
// Prev) their own strings, when they are few.
func (p *parser) cloneFresh() {
	var fresh []*Rule
	for _, r := range p.seq {
		if !r.shared && r.src != nil && r.src.ok {
			fresh = append(fresh, r)
		}
	}
	if len(fresh) == 0 || len(fresh)*8 > len(p.seq) {
		return // a parse of mostly new rules: its file is worth keeping
	}
	for _, r := range fresh {
		r.src.text = strings.Clone(r.src.text)
		r.Comment = strings.Clone(r.Comment)
		for _, s := range r.Stmts {
			cloneStrings(reflect.ValueOf(s))
		}
	}
}

var (
	typePtr   = reflect.TypeOf((*Type)(nil))
	typeSlice = reflect.TypeOf([]*Type(nil))
)

// cloneStrings replaces the exported strings reachable from v (a
// statement this parse made) with copies. Types are shared and hold no
// source text; positions hold file names only.
func cloneStrings(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			cloneStrings(v.Elem())
		}
	case reflect.Struct:
		if v.Type() == posType {
			return
		}
		for i := 0; i < v.NumField(); i++ {
			f := v.Field(i)
			if !f.CanSet() || f.Type() == typePtr || f.Type() == typeSlice || v.Type().Field(i).Name == "Bound" {
				continue
			}
			cloneStrings(f)
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return
		}
		for i := 0; i < v.Len(); i++ {
			cloneStrings(v.Index(i))
		}
	case reflect.String:
		if v.CanSet() && v.Len() > 0 {
			v.SetString(strings.Clone(v.String()))
		}
	}
}

var posType = reflect.TypeOf(Pos{})
