package parser

import (
	"go/ast"
	goparser "go/parser"
	gotoken "go/token"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"unsafe"
)

// shiftStmtTypes are the statements posShift copies; TestShiftCoversStmts
// checks the list against every type with a StmtPos method.
var shiftStmtTypes = []Stmt{&Match{}, &VMap{}, &Counter{}, &Log{}, &Limit{}, &MarkSet{}, &Verdict{}, &Reject{},
	&NAT{}, &Notrack{}, &Quota{}, &CtCount{}, &SetUpdate{}, &KeySet{}, &SynProxy{}, &TProxy{}, &Dup{},
	&ObjRef{}, &PayloadSet{}, &DataMap{}}

// fillPos sets every Pos reachable from v to p, making pointers, one
// element of each slice and a counter for each statement interface.
func fillPos(v reflect.Value, p Pos, depth int) {
	if !v.CanSet() {
		v = reflect.NewAt(v.Type(), unsafe.Pointer(v.UnsafeAddr())).Elem()
	}
	switch v.Kind() {
	case reflect.Struct:
		if v.Type() == posType {
			v.Set(reflect.ValueOf(p))
			return
		}
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			if f.Name == "Bound" || f.Name == "fields" || f.Type == reflect.TypeOf((*Type)(nil)) || f.Type == reflect.TypeOf([]*Type(nil)) {
				continue // bound chains are never shifted; types hold no position
			}
			fillPos(v.Field(i), p, depth)
		}
	case reflect.Pointer:
		if depth > 4 {
			return
		}
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		fillPos(v.Elem(), p, depth+1)
	case reflect.Slice:
		if depth > 4 {
			return
		}
		if v.Len() == 0 {
			v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		}
		for i := 0; i < v.Len(); i++ {
			fillPos(v.Index(i), p, depth+1)
		}
	case reflect.Interface:
		if v.Type() == reflect.TypeOf((*Stmt)(nil)).Elem() && v.IsNil() && depth <= 4 {
			c := &Counter{}
			fillPos(reflect.ValueOf(c).Elem(), p, depth+1)
			v.Set(reflect.ValueOf(Stmt(c)))
		}
	}
}

// allPos lists every Pos reachable from v.
func allPos(v reflect.Value, out *[]Pos, path string, paths *[]string) {
	switch v.Kind() {
	case reflect.Struct:
		if v.Type() == posType {
			*out = append(*out, Pos{File: v.Field(0).String(), Line: int(v.Field(1).Int()), Col: int(v.Field(2).Int())})
			*paths = append(*paths, path)
			return
		}
		for i := 0; i < v.NumField(); i++ {
			allPos(v.Field(i), out, path+"."+v.Type().Field(i).Name, paths)
		}
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			allPos(v.Elem(), out, path, paths)
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			allPos(v.Index(i), out, path+"[]", paths)
		}
	}
}

// TestShiftCoversStmts: posShift moves every position of every kind of
// statement, in a copy, leaving the original as it was.
func TestShiftCoversStmts(t *testing.T) {
	old := Pos{File: "f.nft", Line: 10, Col: 5}
	s := newPosShift(Pos{File: "f.nft", Line: 10, Col: 3}, Pos{File: "f.nft", Line: 13, Col: 4}, 0)
	want := Pos{File: "f.nft", Line: 13, Col: 6}
	for _, proto := range shiftStmtTypes {
		st := reflect.New(reflect.TypeOf(proto).Elem())
		fillPos(st.Elem(), old, 0)
		orig := st.Interface().(Stmt)
		c := shiftStmts([]Stmt{orig}, s)
		if c == nil {
			t.Errorf("%T: not shifted", proto)
			continue
		}
		var got, before []Pos
		var paths, bpaths []string
		allPos(reflect.ValueOf(c[0]), &got, "", &paths)
		allPos(reflect.ValueOf(orig), &before, "", &bpaths)
		if len(got) == 0 {
			t.Errorf("%T: no positions", proto)
		}
		for i, p := range got {
			if p != want {
				t.Errorf("%T%s: %v, want %v", proto, paths[i], p, want)
			}
		}
		for i, p := range before {
			if p != old {
				t.Errorf("%T%s: the original changed to %v", proto, bpaths[i], p)
			}
		}
	}
	// outside the rule's lines and columns: left alone
	for _, p := range []Pos{{File: "f.nft", Line: 10, Col: 2}, {File: "f.nft", Line: 9, Col: 5}, {File: "f.nft", Line: 11, Col: 1}, {File: "g.nft", Line: 10, Col: 5}} {
		if got := s.pos(p); got != p {
			t.Errorf("%v moved to %v", p, got)
		}
	}
}

// TestShiftStmtTypesComplete: every type with a StmtPos method is in
// shiftStmtTypes, so a new statement kind is either taught to posShift or
// listed here and found missing.
func TestShiftStmtTypesComplete(t *testing.T) {
	files, _ := filepath.Glob("*.go")
	fset := gotoken.NewFileSet()
	var found []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := goparser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range af.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Recv == nil || fd.Name.Name != "StmtPos" {
				continue
			}
			if star, ok := fd.Recv.List[0].Type.(*ast.StarExpr); ok {
				found = append(found, star.X.(*ast.Ident).Name)
			}
		}
	}
	var listed []string
	for _, s := range shiftStmtTypes {
		listed = append(listed, reflect.TypeOf(s).Elem().Name())
	}
	sort.Strings(found)
	sort.Strings(listed)
	if strings.Join(found, " ") != strings.Join(listed, " ") {
		t.Fatalf("statement types %v, shiftStmtTypes %v", found, listed)
	}
}
