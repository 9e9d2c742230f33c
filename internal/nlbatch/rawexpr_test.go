package nlbatch

import (
	"bytes"
	"testing"

	"github.com/google/nftables/expr"
)

// TestRawExprBytes: each placeholder becomes, byte for byte, the
// expression nft 1.0.6 sends (captured with `nft --debug=mnl -f`).
func TestRawExprBytes(t *testing.T) {
	cases := []struct {
		name string
		e    expr.Any
		want []byte
	}{
		{`osf ttl skip version "Linux:3.0"`, Osf(1, 2, 1), []byte{
			8, 0, 1, 0, 'o', 's', 'f', 0,
			28, 0, 2, 0x80,
			8, 0, 1, 0, 0, 0, 0, 1, // DREG
			5, 0, 2, 0, 2, 0, 0, 0, // TTL
			8, 0, 3, 0, 0, 0, 0, 1}}, // FLAGS
		{`osf name "Linux"`, Osf(1, 0, 0), []byte{
			8, 0, 1, 0, 'o', 's', 'f', 0,
			20, 0, 2, 0x80,
			8, 0, 1, 0, 0, 0, 0, 1,
			5, 0, 2, 0, 0, 0, 0, 0}},
		{`ipsec in spnum 2 reqid 1`, Xfrm(1, 5, 0, 2), []byte{
			9, 0, 1, 0, 'x', 'f', 'r', 'm', 0, 0, 0, 0,
			36, 0, 2, 0x80,
			8, 0, 2, 0, 0, 0, 0, 5, // KEY
			5, 0, 3, 0, 0, 0, 0, 0, // DIR
			8, 0, 4, 0, 0, 0, 0, 2, // SPNUM
			8, 0, 1, 0, 0, 0, 0, 1}}, // DREG
		{`tproxy ip to 192.0.2.1`, TProxyNoPort(2, 1), []byte{
			11, 0, 1, 0, 't', 'p', 'r', 'o', 'x', 'y', 0, 0,
			20, 0, 2, 0x80,
			8, 0, 1, 0, 0, 0, 0, 2, // FAMILY
			8, 0, 2, 0, 0, 0, 0, 1}}, // REG_ADDR
	}
	for _, c := range cases {
		b, err := expr.Marshal(2, c.e)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		got, ok := rawData(b)
		if !ok {
			t.Fatalf("%s: placeholder not recognised", c.name)
		}
		if !bytes.Equal(got, c.want) {
			t.Errorf("%s:\n got  % x\n want % x", c.name, got, c.want)
		}
	}
	// an ordinary bitwise stays
	b, _ := expr.Marshal(2, &expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: []byte{1, 2, 3, 4}, Xor: make([]byte, 4)})
	if _, ok := rawData(b); ok {
		t.Errorf("a plain bitwise was taken for a placeholder")
	}
}
