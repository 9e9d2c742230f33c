package parser

// CtCount is `ct count [over] N` (nft_connlimit): true while the number of
// connections counted for this rule is at most N (or, with `over`, more
// than N); the kernel adds each new connection to the rule's list. Only
// the kernel keeps that list.
type CtCount struct {
	Pos   Pos
	Over  bool
	Count uint32
}

func (s *CtCount) StmtPos() Pos { return s.Pos }

// KernelOnlyReason says why only the kernel runs the statement.
func (s *CtCount) KernelOnlyReason() string {
	return "the kernel keeps the rule's connection list (nft_connlimit)"
}

// parseCtCount parses `ct count [over] N`.
func (p *parser) parseCtCount() (Stmt, bool) {
	s := &CtCount{Pos: p.next().pos}
	p.next() // count
	if p.isWord("over") {
		p.next()
		s.Over = true
	}
	n, ok := p.uintWord(32)
	if !ok {
		return nil, false
	}
	s.Count = uint32(n)
	return s, true
}
