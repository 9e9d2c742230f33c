package metrics

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/nfdproject/nfd/parser"
)

var update = flag.Bool("update", false, "rewrite golden files")

func testSnapshot() Snapshot {
	return Snapshot{
		Hooks: []HookCount{
			{Family: "ipv4", Hook: "input", Accept: 10, Drop: 2, Reject: 1, Bytes: 1234},
			{Family: "ipv6", Hook: "forward", Accept: 5, Bytes: 600},
		},
		Kernel: []KernelCount{{Hook: "input", Verdict: "accept", Packets: 40}},
		Rules: []RuleCount{
			{Table: "inet filter", Chain: "input", Rule: "ssh", Placement: "userspace", Packets: 7, Bytes: 420},
			{Table: "inet filter", Chain: "input", Rule: "4", Placement: "userspace", Packets: 3, Bytes: 180},
		},
		Queues:           []QueueCount{{Queue: 1000, Packets: 18, QueueFull: 1, UserDropped: 0}},
		ConntrackEntries: 3, ConntrackLimit: 262144, ConntrackEvictions: 1, ConntrackInvalid: 2, ConntrackResyncs: 4, ConntrackNamesLost: 5,
		LastReloadOK: true, LastReloadSuccess: time.Unix(1700000000, 0), Reloads: 4, ReloadErrs: 1,
		RulesByPlacement: map[string]int{"userspace": 2}, Version: "test", QueueMode: "compat-xt",
		Continued: 6, ContinuedReject: 2,
	}
}

func scrape(t *testing.T, snap Snapshot, observe bool) []byte {
	t.Helper()
	goVersion = func() string { return "go-test" }
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(func() Snapshot { return snap }))
	vd := NewVerdictDuration()
	if observe {
		vd.ObserveVerdict(parser.HookInput, 3*time.Microsecond)
		vd.ObserveVerdict(parser.HookInput, 40*time.Microsecond)
	}
	for _, c := range vd.Collectors() {
		reg.MustRegister(c)
	}
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
	return b.Bytes()
}

// TestGoldenScrape: the exposition, series for series, against a golden
// file; and, where Debian's prometheus package is installed, promtool's
// lint of it.
func TestGoldenScrape(t *testing.T) {
	got := scrape(t, testSnapshot(), true)
	const golden = "testdata/scrape.golden"
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("scrape differs from %s:\n%s", golden, got)
	}
	for _, name := range []string{"nfd_packets_total", "nfd_bytes_total", "nfd_rule_packets_total", "nfd_queue_dropped_total",
		"nfd_verdict_duration_seconds_bucket", "nfd_conntrack_entries_limit", "nfd_config_last_reload_successful", "nfd_build_info"} {
		if !bytes.Contains(got, []byte(name)) {
			t.Errorf("missing %s", name)
		}
	}
	if _, err := exec.LookPath("promtool"); err != nil {
		t.Skip("promtool not installed (make test installs Debian's prometheus package)")
	}
	cmd := exec.Command("promtool", "check", "metrics")
	cmd.Stdin = bytes.NewReader(got)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}

// TestNoStaleSeries: a rule gone from the snapshot is gone from the scrape.
func TestNoStaleSeries(t *testing.T) {
	s := testSnapshot()
	before := scrape(t, s, false)
	s.Rules = s.Rules[:1]
	after := scrape(t, s, false)
	if !bytes.Contains(before, []byte(`rule="4"`)) || bytes.Contains(after, []byte(`rule="4"`)) {
		t.Fatal("removed rule still exported")
	}
}

// TestDeployPrometheusFiles: the alert rules pass promtool, and the
// dashboard is valid JSON whose queries name only metrics nfd exports.
func TestDeployPrometheusFiles(t *testing.T) {
	dash, err := os.ReadFile("../deploy/prometheus/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Targets []struct{ Expr string } `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(dash, &d); err != nil || len(d.Panels) == 0 {
		t.Fatalf("dashboard: %v", err)
	}
	exported := string(scrape(t, testSnapshot(), true))
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			for _, m := range regexp.MustCompile(`nfd_[a-z_]+`).FindAllString(tg.Expr, -1) {
				base := strings.TrimSuffix(strings.TrimSuffix(m, "_bucket"), "_total")
				if !strings.Contains(exported, base) {
					t.Errorf("dashboard queries %s, which nfd does not export", m)
				}
			}
		}
	}
	if _, err := exec.LookPath("promtool"); err != nil {
		t.Skip("promtool not installed")
	}
	if out, err := exec.Command("promtool", "check", "rules", "../deploy/prometheus/alerts.yml").CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
}
