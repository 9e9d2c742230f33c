package parser

import (
	"errors"
	"strconv"
)

var errNotNumber = errors.New("not a number")

// parseNftUint reads an unsigned number as nft 1.0.6's scanner and
// integer parser do (strtoull with base 0): `0x`/`0X` and hex digits,
// or decimal digits, where a leading 0 means octal ("010" is 8). Go's
// base-0 extras are not numbers to nft: `0b101`, `0o17` and `1_000` are
// syntax errors there, so they are not numbers here either.
func parseNftUint(s string, bits int) (uint64, error) {
	if len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		for i := 2; i < len(s); i++ {
			if !isHexDigit(s[i]) {
				return 0, errNotNumber
			}
		}
		return strconv.ParseUint(s[2:], 16, bits)
	}
	if !isDigits(s) {
		return 0, errNotNumber
	}
	if len(s) > 1 && s[0] == '0' {
		return strconv.ParseUint(s[1:], 8, bits)
	}
	return strconv.ParseUint(s, 10, bits)
}

func isHexDigit(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}
