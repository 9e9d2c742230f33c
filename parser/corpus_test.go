package parser

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

func corpus(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", dir, "*.nft"))
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("missing golden file (run go test ./parser -update): %v", err)
	}
	if string(want) != got {
		t.Errorf("%s differs from output.\n--- got ---\n%s\n--- want ---\n%s", path, got, want)
	}
}

// stripPos zeroes every Pos in a tree so trees parsed from different text
// can be compared.
func stripPos(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			stripPos(v.Elem())
		}
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(Pos{}) {
			v.Set(reflect.Zero(v.Type()))
			return
		}
		for i := 0; i < v.NumField(); i++ {
			if v.Field(i).CanSet() {
				stripPos(v.Field(i))
			}
		}
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			stripPos(v.Index(i))
		}
	}
}

// stripMemo zeroes what a tree holds of its source text: rule keys and
// what the parser keeps for a later ParseWith (memo.go).
func stripMemo(rs *Ruleset) {
	rs.memo = nil
	for _, t := range rs.Tables {
		for _, c := range t.Chains {
			c.ctxs = nil
			for _, r := range c.Rules {
				r.Key, r.src, r.shared, r.reused, r.checked = RuleKey{}, nil, false, false, false
			}
		}
	}
}

func sameTree(a, b *Ruleset) bool {
	stripMemo(a)
	stripMemo(b)
	stripPos(reflect.ValueOf(a))
	stripPos(reflect.ValueOf(b))
	fa, fb := a.Files, b.Files
	a.Files, b.Files = nil, nil
	defer func() { a.Files, b.Files = fa, fb }()
	return reflect.DeepEqual(a, b)
}

// roundTrip checks that printing rs and parsing the output gives the same
// tree and the same text.
func roundTrip(t *testing.T, name string, rs *Ruleset) string {
	t.Helper()
	out := Print(rs)
	rs2, err := Parse(name+".printed", []byte(out))
	if err != nil {
		t.Fatalf("%s: canonical output does not parse: %v\n%s", name, err.(ErrorList).Pretty(), out)
	}
	if out2 := Print(rs2); out2 != out {
		t.Fatalf("%s: printing is not stable:\n%s\n---\n%s", name, out, out2)
	}
	if !sameTree(rs, rs2) {
		t.Fatalf("%s: tree changed across print and parse:\n%s", name, out)
	}
	return out
}

func TestValidCorpus(t *testing.T) {
	files := corpus(t, "valid")
	if len(files) < 25 {
		t.Fatalf("valid corpus has %d files, want at least 25", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			rs, err := ParseFile(f)
			if err != nil {
				var el ErrorList
				errors.As(err, &el)
				t.Fatalf("valid file rejected:\n%s", el.Pretty())
			}
			if len(rs.Tables) == 0 {
				t.Fatal("no tables")
			}
			out := roundTrip(t, f, rs)
			golden(t, strings.TrimSuffix(f, ".nft")+".golden", out)
		})
	}
}

func TestInvalidCorpus(t *testing.T) {
	files := corpus(t, "invalid")
	if len(files) < 40 {
		t.Fatalf("invalid corpus has %d files, want at least 40", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			rs, err := ParseFile(f)
			if err == nil {
				t.Fatalf("invalid file accepted:\n%s", Print(rs))
			}
			if rs != nil {
				t.Fatal("a ruleset came back with errors")
			}
			var el ErrorList
			if !errors.As(err, &el) || len(el) == 0 {
				t.Fatalf("error is not an ErrorList: %v", err)
			}
			for _, e := range el {
				if !strings.HasPrefix(e.Error(), e.Pos.File+":") || e.Pos.Line == 0 || e.Pos.Col == 0 {
					t.Errorf("error without file:line:col: %q", e.Error())
				}
			}
			golden(t, strings.TrimSuffix(f, ".nft")+".err", el.Pretty()+"\n")
		})
	}
}

func TestAllErrorsReported(t *testing.T) {
	var b strings.Builder
	b.WriteString("table inet t {\n\tchain c {\n")
	for i := 0; i < 200; i++ {
		b.WriteString("\t\ttcp dport 99999 accept\n")
	}
	b.WriteString("\t}\n}\n")
	_, err := Parse("many.nft", []byte(b.String()))
	el := err.(ErrorList)
	if len(el) != MaxErrors+1 {
		t.Fatalf("got %d errors, want %d and a closing note", len(el), MaxErrors+1)
	}
	if !strings.Contains(el[len(el)-1].Msg, "too many errors") {
		t.Fatalf("last error: %v", el[len(el)-1])
	}
	if el[0].Pos.Line != 3 || el[1].Pos.Line != 4 {
		t.Fatalf("errors not one per line in order: %v %v", el[0], el[1])
	}
}

func TestCaretDisplay(t *testing.T) {
	_, err := Parse("x.nft", []byte("table inet t {\n\tchain c {\n\t\ttcp dprot 22\n\t}\n}\n"))
	got := err.(ErrorList).Pretty()
	want := "x.nft:3:7: error: unknown keyword `dprot`, did you mean `dport`? (expected a `tcp` field (ackseq, checksum, doff, dport, flags, option, reserved, sequence, sport, urgptr, window))\n\t\ttcp dprot 22\n\t\t    ^"
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}
