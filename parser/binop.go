package parser

// Bitwise operations on the left side of a match (`meta mark & 0xff ==
// 1`, `ct mark and 0xffff0000 or 0x10`, `meta mark ^ 0x1 == 0`): nft
// compiles a chain of them into one nft_bitwise, dst = (src & mask) ^ xor;
// nfd folds them the same way.

// binopNext reports whether a bitwise operator follows.
func (p *parser) binopNext() bool {
	t := p.peek()
	switch t.kind {
	case tAmp, tPipe, tCaret:
		return true
	case tWord:
		return t.text == "and" || t.text == "or" || t.text == "xor"
	}
	return false
}

// parseBinops reads `op value` pairs and folds them: starting from
// (x & ones) ^ 0, `& v` gives (x & m&v) ^ (x0&v), `| v` gives
// (x & m&^v) ^ (x0|v), `^ v` gives (x & m) ^ (x0^v).
func (p *parser) parseBinops(t *Type) (mask, xor []byte, ok bool) {
	mask = fullMask(t)
	xor = make([]byte, t.Size)
	for p.binopNext() {
		op := p.next()
		v, hi, ok := p.parseMask(t)
		if !ok {
			return nil, nil, false
		}
		if string(v) != string(hi) {
			p.errorf(op.pos, "the operand of `%s` must be a single value", op.text)
			return nil, nil, false
		}
		for i := range mask {
			switch op.text {
			case "&", "and":
				mask[i] &= v[i]
				xor[i] &= v[i]
			case "|", "or":
				mask[i] &^= v[i]
				xor[i] |= v[i]
			case "^", "xor":
				xor[i] ^= v[i]
			}
		}
	}
	if isZero(xor) {
		xor = nil
	}
	return mask, xor, true
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// formatBinops prints a folded mask and xor back as nft reads them.
func formatBinops(t *Type, mask, xor []byte) string {
	if xor == nil {
		return " & " + formatMaskValue(t, mask)
	}
	// (x & ^v) ^ v is x | v.
	full := fullMask(t)
	or := true
	for i := range mask {
		if mask[i] != full[i]&^xor[i] {
			or = false
		}
	}
	if or {
		return " | " + formatMaskValue(t, xor)
	}
	if string(mask) == string(full) {
		return " ^ " + formatMaskValue(t, xor)
	}
	return " & " + formatMaskValue(t, mask) + " ^ " + formatMaskValue(t, xor)
}

// fullMask is a value of the type with every valid bit set.
func fullMask(t *Type) []byte {
	b := make([]byte, t.Size)
	if t.Size <= 8 {
		putUint(b, t.maxValue())
		return b
	}
	for i := range b {
		b[i] = 0xff
	}
	return b
}
