// Package acccorpus reads the acceptance corpus (parser/testdata/acceptance/
// lines/*.txt): single rule lines, each judged by a real `nft -f` in a
// namespace, per table family. parser's TestAcceptance measures nfd's
// acceptance with it; kernel's TestTranslationOracle compares nfd's native
// translation of the same lines with nft's own compilation.
//
// File format, one item per line:
//
//	# comment
//	@section NAME      man page section (or other grouping) of what follows
//	@source TEXT       where the lines come from (nft(8), examples, real configs)
//	@family F...       table families each line is tried in (ip, ip6, inet)
//	@chain TYPE HOOK [PRIO]   base chain the line sits in (filter input ...)
//	@decl TEXT         table-level declaration (set, map, object, chain)
//	@nodecl            forget the declarations so far (@section does too)
//	V C RULE           one rule line: V is nft's verdict, one character per
//	                   family of @family ('+' accepted, '-' refused, or a
//	                   single '?' before the first -acceptance.update), C is
//	                   'm' (match side, issue 13) or 's' (statement side,
//	                   issue 14), RULE is the rule text.
package acccorpus

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// TableName is the table every entry is wrapped in.
const TableName = "nfdcorpus"

// Interfaces are the veth pairs a judging namespace needs: nft resolves
// `iif`/`oif` names at load.
var Interfaces = [][2]string{
	{"eth0", "eth1"}, {"eth2", "wan0"}, {"lan0", "veth0"}, {"docker0", "virbr0"},
	{"enp1s0", "wlan0"}, {"ppp0", "tun0"}, {"wg0", "veth1"}, {"br0", "br-lan"},
}

// Entry is one rule line in one family.
type Entry struct {
	File    string
	LineNo  int // 1-based line in File
	Section string
	Source  string
	Family  string
	FamIdx  int       // index of Family in the line's @family list
	Chain   [3]string // type, hook, priority
	Decls   []string
	Cat     byte // 'm' or 's'
	Rule    string
	Nft     byte // '+', '-', '?'
}

// Key names the entry independently of where it sits in the corpus.
func (e *Entry) Key() string {
	return fmt.Sprintf("%s [%s %s %s] %s", e.Family, e.Chain[0], e.Chain[1], e.Chain[2], e.Rule)
}

// Where is file:line.
func (e *Entry) Where() string { return fmt.Sprintf("%s:%d", filepath.Base(e.File), e.LineNo) }

// Wrap is the file both judges see: the line in a minimal table (named
// TableName) and base chain `c` of its family and hook.
func (e *Entry) Wrap() string {
	var b strings.Builder
	fmt.Fprintf(&b, "table %s %s {\n", e.Family, TableName)
	for _, d := range e.Decls {
		fmt.Fprintf(&b, "\t%s\n", d)
	}
	fmt.Fprintf(&b, "\tchain c {\n\t\ttype %s hook %s priority %s;\n\t\t%s\n\t}\n}\n", e.Chain[0], e.Chain[1], e.Chain[2], e.Rule)
	return b.String()
}

// DefaultPrio is the priority of a @chain without one.
func DefaultPrio(typ, hook string) string {
	if typ == "nat" {
		switch hook {
		case "prerouting", "output":
			return "-100"
		default:
			return "100"
		}
	}
	if typ == "route" {
		return "-150"
	}
	return "0"
}

// File is one corpus file.
type File struct {
	Path    string
	Lines   []string
	Entries map[int][]*Entry // line index (0-based) -> entries (one per family)
}

// Load reads every *.txt of dir, in name order.
func Load(dir string) ([]*File, []*Entry, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.txt"))
	if err != nil {
		return nil, nil, err
	}
	if len(paths) == 0 {
		return nil, nil, fmt.Errorf("no acceptance corpus in %s", dir)
	}
	sort.Strings(paths)
	var files []*File
	var all []*Entry
	for _, p := range paths {
		cf, es, err := loadFile(p)
		if err != nil {
			return nil, nil, err
		}
		files = append(files, cf)
		all = append(all, es...)
	}
	return files, all, nil
}

func loadFile(p string) (*File, []*Entry, error) {
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, nil, err
	}
	cf := &File{Path: p, Lines: strings.Split(strings.TrimSuffix(string(data), "\n"), "\n"), Entries: map[int][]*Entry{}}
	var all []*Entry
	section, source := filepath.Base(p), ""
	families := []string{"inet"}
	chain := [3]string{"filter", "input", "0"}
	var decls []string
	for i, ln := range cf.Lines {
		s := strings.TrimSpace(ln)
		if s == "" || s[0] == '#' {
			continue
		}
		if s[0] == '@' {
			dir, arg, _ := strings.Cut(s, " ")
			arg = strings.TrimSpace(arg)
			switch dir {
			case "@section":
				section, decls = arg, nil
			case "@source":
				source = arg
			case "@family":
				families = strings.Fields(arg)
			case "@chain":
				f := strings.Fields(arg)
				if len(f) < 2 || len(f) > 3 {
					return nil, nil, fmt.Errorf("%s:%d: @chain TYPE HOOK [PRIO]", p, i+1)
				}
				chain = [3]string{f[0], f[1], DefaultPrio(f[0], f[1])}
				if len(f) == 3 {
					chain[2] = f[2]
				}
			case "@decl":
				decls = append(append([]string(nil), decls...), arg)
			case "@nodecl":
				decls = nil
			default:
				return nil, nil, fmt.Errorf("%s:%d: unknown directive %s", p, i+1, dir)
			}
			continue
		}
		f := strings.SplitN(s, " ", 3)
		if len(f) != 3 || (f[1] != "m" && f[1] != "s") {
			return nil, nil, fmt.Errorf("%s:%d: want `VERDICTS m|s RULE`, got %q", p, i+1, s)
		}
		v := f[0]
		if v == "?" {
			v = strings.Repeat("?", len(families))
		}
		if len(v) != len(families) || strings.Trim(v, "+-?") != "" {
			return nil, nil, fmt.Errorf("%s:%d: verdict %q does not fit @family %v", p, i+1, f[0], families)
		}
		for k, fam := range families {
			e := &Entry{File: p, LineNo: i + 1, Section: section, Source: source, Family: fam, FamIdx: k,
				Chain: chain, Decls: decls, Cat: f[1][0], Rule: strings.TrimSpace(f[2]), Nft: v[k]}
			cf.Entries[i] = append(cf.Entries[i], e)
			all = append(all, e)
		}
	}
	return cf, all, nil
}

// Rewrite stores the entries' Nft verdicts back into the file.
func (cf *File) Rewrite() error {
	out := append([]string(nil), cf.Lines...)
	for i, es := range cf.Entries {
		v := make([]byte, len(es))
		for k, e := range es {
			v[k] = e.Nft
		}
		s := strings.TrimSpace(out[i])
		_, rest, _ := strings.Cut(s, " ")
		out[i] = string(v) + " " + rest
	}
	return os.WriteFile(cf.Path, []byte(strings.Join(out, "\n")+"\n"), 0o644)
}
