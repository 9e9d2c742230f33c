package parser

// Payload and option statements: `ip dscp set cs1`, `tcp dport set 80`,
// `tcp option maxseg size set rt mtu`. nfd runs them in the kernel (the
// kernel rewrites the packet and fixes its checksums as nft_payload_set /
// nft_exthdr_tcp_set do); a queued packet would need the changed bytes in
// nfd's verdict, which nfd does not send yet.

// PayloadSet writes a value (or another field's value) into a field.
type PayloadSet struct {
	Pos   Pos
	Field Field
	Value []byte // the constant, Field.Type().Size bytes; nil with From
	From  Field  // the field whose value is written, else 0
}

func (s *PayloadSet) StmtPos() Pos { return s.Pos }

// KernelOnlyReason says why only the kernel runs the statement.
func (s *PayloadSet) KernelOnlyReason() string {
	return "nfd does not send changed packets back yet; the kernel rewrites them and fixes their checksums"
}

// KernelOnlyStmt is a statement only the kernel can run.
type KernelOnlyStmt interface {
	Stmt
	KernelOnlyReason() string
}

// writable reports whether nft can write a field: header payloads and TCP
// options (nft_payload_set, nft_exthdr with a source register).
func writable(fi *FieldInfo) bool {
	if fi.Exists || fi.KernelOnly != "" && fi.Base != BaseLL {
		return fi.Base == BaseTCPOpt && !fi.Exists
	}
	switch fi.Base {
	case BaseNH, BaseTH, BaseLL, BaseTCPOpt:
		return true
	}
	return false
}

// parsePayloadSet parses the rest of `FIELD set VALUE`.
func (p *parser) parsePayloadSet(start Pos, f Field) (Stmt, bool) {
	fi := f.Info()
	if !writable(fi) {
		p.errorf(start, "`%s set` is not supported: nfd can set header fields, TCP options, `meta mark` and `ct mark`", f)
		return nil, false
	}
	s := &PayloadSet{Pos: start, Field: f}
	if isFieldStart(p.peek()) && !(fi.Type.Symbols != nil && p.peek().kind == tWord && p.symbolNext(fi.Type)) {
		vp := p.peek().pos
		src, ok := p.parseFieldName()
		if !ok {
			return nil, false
		}
		if src.Type().Size != fi.Type.Size && src.Info().Bits() != fi.Bits() {
			p.errorf(vp, "`%s` (%d bits) cannot be written into `%s` (%d bits)", src, src.Info().Bits(), f, fi.Bits())
			return nil, false
		}
		s.From = src
		return s, true
	}
	lo, hi, ok := p.parseLiteral(fi.Type)
	if !ok {
		return nil, false
	}
	if string(lo) != string(hi) {
		p.errorf(start, "`%s set` needs a single value, not a range", f)
		return nil, false
	}
	s.Value = lo
	return s, true
}

// symbolNext reports whether the next word is a symbol of t (`ip
// protocol set tcp`: `tcp` is a value here, not a selector).
func (p *parser) symbolNext(t *Type) bool {
	_, ok := t.symbol(p.peek().text)
	return ok
}
