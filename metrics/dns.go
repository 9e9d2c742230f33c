package metrics

import "github.com/prometheus/client_golang/prometheus"

// DNSSetCount is one set filled from DNS answers.
type DNSSetCount struct {
	Table, Set                                           string
	Elements                                             int
	Answers, Added, Refreshed, Expired, Full, OverBudget uint64
}

// DNSSnapshot is what a scrape reports about sets filled from DNS.
type DNSSnapshot struct {
	Sets []DNSSetCount
	// Answers matched to a query; Skipped by reason (malformed,
	// unsolicited, kernel_error).
	Queries, Answers uint64
	Skipped          map[string]uint64
}

// DNSCollector turns DNS snapshots into metrics.
type DNSCollector struct {
	snap                                                                             func() DNSSnapshot
	elems, setAnswers, added, refreshed, expired, refused, queries, answers, skipped *prometheus.Desc
}

// NewDNSCollector makes a collector that calls snap once per scrape.
func NewDNSCollector(snap func() DNSSnapshot) *DNSCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("nfd_dns_"+name, help, labels, nil)
	}
	return &DNSCollector{snap: snap,
		elems:      d("set_elements", "Addresses a set filled from DNS answers holds.", "table", "set"),
		setAnswers: d("set_answers_total", "Answers whose names matched the set.", "table", "set"),
		added:      d("set_added_total", "Addresses added to the set.", "table", "set"),
		refreshed:  d("set_refreshed_total", "Addresses whose lifetime a later answer extended.", "table", "set"),
		expired:    d("set_expired_total", "Addresses whose lifetime (TTL) ended.", "table", "set"),
		refused:    d("set_refused_total", "Addresses not added, by reason (full: the set's limit; budget: the per-second update budget).", "table", "set", "reason"),
		queries:    d("queries_total", "DNS queries seen leaving."),
		answers:    d("answers_total", "DNS answers matched to a query seen leaving."),
		skipped:    d("answers_skipped_total", "DNS answers that filled nothing, by reason (malformed, unsolicited, kernel_error).", "reason"),
	}
}

// Describe sends every descriptor.
func (c *DNSCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.elems, c.setAnswers, c.added, c.refreshed, c.expired, c.refused, c.queries, c.answers, c.skipped} {
		ch <- d
	}
}

// Collect reads one snapshot.
func (c *DNSCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.snap()
	counter := func(d *prometheus.Desc, v uint64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), l...)
	}
	for _, x := range s.Sets {
		ch <- prometheus.MustNewConstMetric(c.elems, prometheus.GaugeValue, float64(x.Elements), x.Table, x.Set)
		counter(c.setAnswers, x.Answers, x.Table, x.Set)
		counter(c.added, x.Added, x.Table, x.Set)
		counter(c.refreshed, x.Refreshed, x.Table, x.Set)
		counter(c.expired, x.Expired, x.Table, x.Set)
		counter(c.refused, x.Full, x.Table, x.Set, "full")
		counter(c.refused, x.OverBudget, x.Table, x.Set, "budget")
	}
	if len(s.Sets) == 0 {
		return
	}
	counter(c.queries, s.Queries)
	counter(c.answers, s.Answers)
	for _, r := range []string{"malformed", "unsolicited", "kernel_error"} {
		counter(c.skipped, s.Skipped[r], r)
	}
}
