package parser

// Reused statements at a new place: a rule that moved (lines inserted or
// removed above it, or text before it on its first line) takes copies of
// its statements with every position of its own tokens moved. Positions
// outside the rule (tokens of the defines it expands) stay. Only what
// holds a position is copied; byte slices, fields and types are shared.

// posShift moves the positions of a rule's tokens.
type posShift struct {
	file       string
	l0, c0, l1 int // the old first token's line and column, the old last line
	dl, dc     int
}

func newPosShift(from, to Pos, nl int32) posShift {
	return posShift{file: from.File, l0: from.Line, c0: from.Col, l1: from.Line + int(nl), dl: to.Line - from.Line, dc: to.Col - from.Col}
}

func (s *posShift) pos(p Pos) Pos {
	if p.Line < s.l0 || p.Line > s.l1 || p.Line == s.l0 && p.Col < s.c0 || p.File != s.file {
		return p
	}
	if p.Line == s.l0 {
		p.Col += s.dc
	}
	p.Line += s.dl
	return p
}

// shiftStmts copies stmts with their positions moved; nil when a
// statement is of a kind it does not know (the rule is then parsed).
func shiftStmts(stmts []Stmt, s posShift) []Stmt {
	out := make([]Stmt, len(stmts))
	for i, st := range stmts {
		c := s.stmt(st)
		if c == nil {
			return nil
		}
		out[i] = c
	}
	return out
}

func (s *posShift) stmt(st Stmt) Stmt {
	switch x := st.(type) {
	case *Match:
		c := *x
		c.Pos = s.pos(x.Pos)
		c.Val = s.value(x.Val)
		return &c
	case *VMap:
		c := *x
		c.Pos = s.pos(x.Pos)
		c.Val = s.value(x.Val)
		return &c
	case *Counter:
		return s.counter(x)
	case *Log:
		c := *x
		c.Pos = s.pos(x.Pos)
		return &c
	case *Limit:
		c := *x
		c.Pos = s.pos(x.Pos)
		return &c
	case *Quota:
		c := *x
		c.Pos = s.pos(x.Pos)
		return &c
	case *MarkSet:
		c := *x
		c.Pos = s.pos(x.Pos)
		c.Map = s.dataMap(x.Map)
		return &c
	case *Verdict:
		if x.Bound != nil {
			return nil
		}
		return s.verdict(x)
	case *Reject:
		c := *x
		c.Pos = s.pos(x.Pos)
		return &c
	case *NAT:
		c := *x
		c.Pos = s.pos(x.Pos)
		c.AddrMap = s.dataMap(x.AddrMap)
		c.PortMap = s.dataMap(x.PortMap)
		return &c
	case *Notrack:
		return &Notrack{Pos: s.pos(x.Pos)}
	case *CtCount:
		c := *x
		c.Pos = s.pos(x.Pos)
		return &c
	case *SetUpdate:
		c := *x
		c.Pos = s.pos(x.Pos)
		if x.Stmts != nil {
			c.Stmts = shiftStmts(x.Stmts, *s)
			if c.Stmts == nil {
				return nil
			}
		}
		if x.DataTok != nil {
			t := *x.DataTok
			t.pos = s.pos(t.pos)
			c.DataTok = &t
		}
		return &c
	case *KeySet:
		c := *x
		c.Pos = s.pos(x.Pos)
		c.Map = s.dataMap(x.Map)
		return &c
	case *SynProxy:
		c := *x
		c.Pos = s.pos(x.Pos)
		return &c
	case *TProxy:
		c := *x
		c.Pos = s.pos(x.Pos)
		return &c
	case *Dup:
		c := *x
		c.Pos = s.pos(x.Pos)
		c.Map = s.dataMap(x.Map)
		return &c
	case *ObjRef:
		c := *x
		c.Pos = s.pos(x.Pos)
		c.Map = s.dataMap(x.Map)
		return &c
	case *PayloadSet:
		c := *x
		c.Pos = s.pos(x.Pos)
		return &c
	case *DataMap:
		return s.dataMap(x)
	}
	return nil
}

func (s *posShift) counter(x *Counter) *Counter {
	if x == nil {
		return nil
	}
	c := *x
	c.Pos = s.pos(x.Pos)
	return &c
}

func (s *posShift) verdict(x *Verdict) *Verdict {
	if x == nil {
		return nil
	}
	c := *x
	c.Pos = s.pos(x.Pos)
	return &c
}

func (s *posShift) dataMap(x *DataMap) *DataMap {
	if x == nil {
		return nil
	}
	c := *x
	c.Pos = s.pos(x.Pos)
	c.Val = s.value(x.Val)
	return &c
}

// value copies a value; its elements only when one holds a position.
func (s *posShift) value(v Value) Value {
	v.Pos = s.pos(v.Pos)
	if v.CatchAll != nil {
		e := s.elem(*v.CatchAll)
		v.CatchAll = &e
	}
	for i := range v.Elems {
		if elemHasPos(&v.Elems[i]) {
			els := make([]Elem, len(v.Elems))
			for j := range v.Elems {
				els[j] = s.elem(v.Elems[j])
			}
			v.Elems = els
			break
		}
	}
	return v
}

func elemHasPos(e *Elem) bool {
	return e.OptPos.Line != 0 || e.Counter != nil || e.Verdict != nil
}

func (s *posShift) elem(e Elem) Elem {
	e.OptPos = s.pos(e.OptPos)
	e.Counter = s.counter(e.Counter)
	e.Verdict = s.verdict(e.Verdict)
	return e
}
