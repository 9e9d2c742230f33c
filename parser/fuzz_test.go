package parser

import (
	"os"
	"path/filepath"
	"testing"
)

func addCorpusSeeds(f *testing.F) {
	for _, dir := range []string{"valid", "invalid"} {
		files, _ := filepath.Glob(filepath.Join("testdata", dir, "*.nft"))
		for _, name := range files {
			b, err := os.ReadFile(name)
			if err == nil && len(b) < 8192 {
				f.Add(b)
			}
		}
	}
}

// FuzzLexer: any input lexes to EOF without panicking, and every token
// makes progress (at most one token per byte, plus EOF).
func FuzzLexer(f *testing.F) {
	addCorpusSeeds(f)
	f.Add([]byte("a:b:c [::1]:80 \"unterminated\n@ $ \\\n# c"))
	f.Fuzz(func(t *testing.T, src []byte) {
		l := newLexer("fuzz.nft", src)
		for n := 0; ; n++ {
			if n > len(src)+1 {
				t.Fatalf("lexer made %d tokens from %d bytes", n, len(src))
			}
			tok := l.next()
			if tok.pos.Line < 1 || tok.pos.Col < 1 {
				t.Fatalf("bad position %v", tok.pos)
			}
			if tok.kind == tEOF {
				return
			}
		}
	})
}

// FuzzParse: any input either fails with positioned errors or parses to a
// tree whose canonical print parses back to the same print.
func FuzzParse(f *testing.F) {
	addCorpusSeeds(f)
	f.Fuzz(func(t *testing.T, src []byte) {
		if len(src) > 1<<16 {
			return
		}
		rs, err := Parse("fuzz.nft", src)
		if err != nil {
			el := err.(ErrorList)
			if len(el) == 0 || len(el) > MaxErrors+1 {
				t.Fatalf("bad error list length %d", len(el))
			}
			for _, e := range el {
				if !e.Pos.IsValid() && e.Pos.File == "fuzz.nft" {
					t.Fatalf("error without position: %v", e)
				}
			}
			return
		}
		out := Print(rs)
		rs2, err := Parse("printed.nft", []byte(out))
		if err != nil {
			t.Fatalf("canonical output does not parse: %v\ninput:\n%q\noutput:\n%s", err, src, out)
		}
		if out2 := Print(rs2); out2 != out {
			t.Fatalf("print not stable:\n%s\n---\n%s", out, out2)
		}
	})
}
