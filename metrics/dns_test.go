package metrics

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

func TestDNSCollector(t *testing.T) {
	snap := DNSSnapshot{Queries: 9, Answers: 7, Skipped: map[string]uint64{"malformed": 2, "unsolicited": 1},
		Sets: []DNSSetCount{{Table: "inet fw", Set: "ok4", Elements: 3, Answers: 7, Added: 4, Refreshed: 1, Expired: 1, Full: 5, OverBudget: 6}}}
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewDNSCollector(func() DNSSnapshot { return snap }))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	enc := expfmt.NewEncoder(&b, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{
		`nfd_dns_set_elements{set="ok4",table="inet fw"} 3`,
		`nfd_dns_set_added_total{set="ok4",table="inet fw"} 4`,
		`nfd_dns_set_expired_total{set="ok4",table="inet fw"} 1`,
		`nfd_dns_set_refused_total{reason="full",set="ok4",table="inet fw"} 5`,
		`nfd_dns_set_refused_total{reason="budget",set="ok4",table="inet fw"} 6`,
		`nfd_dns_answers_skipped_total{reason="malformed"} 2`,
		`nfd_dns_answers_skipped_total{reason="kernel_error"} 0`,
		`nfd_dns_queries_total 9`,
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("missing %s in:\n%s", want, b.String())
		}
	}
	if _, err := exec.LookPath("promtool"); err == nil {
		cmd := exec.Command("promtool", "check", "metrics")
		cmd.Stdin = bytes.NewReader(b.Bytes())
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool check metrics: %v\n%s", err, out)
		}
	}
	// without sets, nothing
	snap = DNSSnapshot{}
	if mfs, _ := reg.Gather(); len(mfs) != 0 {
		t.Errorf("metrics without DNS sets: %d families", len(mfs))
	}
}
