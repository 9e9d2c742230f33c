package queue

import (
	"strings"
	"testing"
)

func TestReadProcDrops(t *testing.T) {
	in := "  1000  12345     0 2  256     7     3       99  1\n  1001  12346     2 2 65535    0     0      100  1\nbroken\n"
	got := ReadProcDrops(strings.NewReader(in))
	if got[1000] != (Drops{7, 3}) || got[1000].Total() != 10 || got[1001] != (Drops{}) || len(got) != 2 {
		t.Fatalf("%v", got)
	}
}
