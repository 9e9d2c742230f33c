package parser

import (
	"fmt"
	"strings"
)

// Object is a named stateful object of a table: a `counter` or a `quota`
// that rules share by name (`counter name "x"`, `quota name "x"`).
type Object struct {
	Pos     Pos
	Kind    string // counter, quota
	Name    string
	Comment string
	Counter Counter // for counters: the starting values
	Quota   Quota   // for quotas
	Limit   Limit   // for limits
	// Objects only the kernel keeps (ctobjects.go): one is set.
	Helper   *CtHelperObj
	Timeout  *CtTimeoutObj
	Expect   *CtExpectObj
	SynProxy *SynProxy
}

// ObjRef is `counter name NAME` or `quota name NAME`: the rule counts in,
// or checks, the table's object of that name.
type ObjRef struct {
	Pos  Pos
	Kind string
	Name string
	// Map, for the objects only the kernel keeps, names the object by a
	// key of the packet (nft_objref's map form); Name is then empty.
	Map *DataMap
}

func (s *ObjRef) StmtPos() Pos { return s.Pos }

// Object looks a named object up by kind and name.
func (t *Table) Object(kind, name string) *Object {
	for _, o := range t.Objects {
		if o.Kind == kind && o.Name == name {
			return o
		}
	}
	return nil
}

// parseObjectDecl reads `counter NAME { [packets N bytes M] [comment "c"] }`
// or `quota NAME { [over|until] N unit [used M unit] [comment "c"] }`, the
// keyword already read.
func (p *parser) parseObjectDecl(t *Table, kw token) bool {
	return p.objectDecl(t, kw, false)
}

// objectDecl reads an object's name and body; cmd is the command form
// (`add quota [family] table NAME 25 mbytes`), whose body may come
// without braces.
func (p *parser) objectDecl(t *Table, kw token, cmd bool) bool {
	n, ok := p.identName(kw.text+" name", objKeywords(kw.text))
	if !ok {
		return false
	}
	o := &Object{Pos: n.pos, Kind: kw.text, Name: n.text}
	if cmd && p.peek().kind != tLBrace {
		switch o.Kind {
		case "quota":
			q, ok := p.parseQuotaBody(n.pos)
			if !ok {
				return false
			}
			o.Quota = *q
		case "limit":
			l, ok := p.parseLimitBody(n.pos)
			if !ok {
				return false
			}
			o.Limit = *l.(*Limit)
		}
		if old := t.Object(o.Kind, o.Name); old != nil {
			p.errorf(o.Pos, "%s `%s` is already declared (at %s)", o.Kind, o.Name, old.Pos)
			return true
		}
		t.Objects = append(t.Objects, o)
		return true
	}
	if _, ok := p.expect(tLBrace, "`{`"); !ok {
		return false
	}
	for {
		p.skipNewlines()
		tok := p.peek()
		switch {
		case tok.kind == tRBrace:
			p.next()
			if old := t.Object(o.Kind, o.Name); old != nil {
				p.errorf(o.Pos, "%s `%s` is already declared (at %s)", o.Kind, o.Name, old.Pos)
				return true
			}
			t.Objects = append(t.Objects, o)
			return true
		case tok.kind == tEOF:
			p.errorf(tok.pos, "found end of file, expected `}` closing %s `%s`", o.Kind, o.Name)
			return false
		case tok.kind == tWord && tok.text == "comment":
			p.next()
			c, ok := p.expect(tString, "a quoted comment")
			if !ok {
				return false
			}
			o.Comment = c.text
		case o.Kind == "counter" && tok.kind == tWord && tok.text == "packets":
			p.next()
			v, ok := p.uintWord(64)
			if !ok {
				return false
			}
			o.Counter.Packets = v
			if !p.acceptWord("bytes") {
				x := p.peek()
				p.errorf(x.pos, "found %s, expected `bytes`", x.describe())
				return false
			}
			if o.Counter.Bytes, ok = p.uintWord(64); !ok {
				return false
			}
		case o.Kind == "limit" && tok.kind == tWord && tok.text == "rate":
			l, ok := p.parseLimitBody(tok.pos)
			if !ok {
				return false
			}
			o.Limit = *l.(*Limit)
		case o.Kind == "quota" && tok.kind == tWord:
			// The body of a quota statement without its keyword.
			q, ok := p.parseQuotaBody(tok.pos)
			if !ok {
				return false
			}
			o.Quota = *q
		default:
			p.errorf(tok.pos, "found %s in %s `%s`", tok.describe(), o.Kind, o.Name)
			return false
		}
	}
}

// parseObjRef reads `name NAME` after `counter` or `quota`.
func (p *parser) parseObjRef(kw token) (Stmt, bool) {
	p.next() // name
	return p.parseObjAssign(kw.text, kw.pos)
}

// checkObjRef refuses a reference to an object the table lacks (nft:
// No such file or directory).
func (p *parser) checkObjRef(t *Table, s *ObjRef) {
	if KernelObjType(s.Kind) != 0 || s.Map != nil {
		p.checkKernelObjRef(t, s)
		return
	}
	if t.Object(s.Kind, s.Name) == nil {
		p.errorf(s.Pos, "undefined %s `%s` in table `%s %s`", s.Kind, s.Name, t.Family, t.Name)
	}
}

// FormatObject renders one object of a table as `nft list ruleset` prints
// it, indented for its place in the table's block.
func FormatObject(o *Object) string {
	var b strings.Builder
	printObject(&b, o)
	return b.String()
}

func printObject(b fmtWriter, o *Object) {
	if KernelObjType(o.Kind) != 0 {
		printKernelObject(b, o)
		return
	}
	fmt.Fprintf(b, "\t%s %s {\n", o.Kind, quoteName(o.Name))
	if o.Kind == "counter" {
		fmt.Fprintf(b, "\t\tpackets %d bytes %d\n", o.Counter.Packets, o.Counter.Bytes)
	} else if o.Kind == "limit" {
		l := FormatStmt(&o.Limit)
		fmt.Fprintf(b, "\t\t%s\n", l[len("limit "):])
	} else {
		q := FormatStmt(&o.Quota)
		fmt.Fprintf(b, "\t\t%s\n", q[len("quota "):])
	}
	if o.Comment != "" {
		fmt.Fprintf(b, "\t\tcomment %s\n", quote(o.Comment))
	}
	b.WriteString("\t}\n")
}

type fmtWriter interface {
	Write([]byte) (int, error)
	WriteString(string) (int, error)
}
