package parser

import "testing"

// TestMsecs: ct expiration values read and print as nft's time_type
// (a bare number is seconds; the register holds milliseconds).
func TestMsecs(t *testing.T) {
	for _, c := range []struct {
		in   string
		ms   uint64
		back string
	}{
		{"30000", 30000000, "8h20m"}, {"30s", 30000, "30s"}, {"1m", 60000, "1m"},
		{"1d2h3m4s5ms", 93784005, "1d2h3m4s5ms"}, {"500ms", 500, "500ms"}, {"0", 0, "0s"},
	} {
		b, err := TypeCtTime.parseScalar(c.in, false)
		if err != nil || Uint(b) != c.ms {
			t.Errorf("%s: %d, %v; want %d ms", c.in, Uint(b), err, c.ms)
			continue
		}
		if got := TypeCtTime.FormatValue(b); got != c.back {
			t.Errorf("%s prints as %s, want %s", c.in, got, c.back)
		}
	}
	for _, bad := range []string{"1x", "m", "1m1h", "1s1s", "5000000000"} {
		if _, err := TypeCtTime.parseScalar(bad, false); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}
