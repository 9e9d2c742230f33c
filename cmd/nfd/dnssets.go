package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/nfdproject/nfd/hooks"
	"github.com/nfdproject/nfd/metrics"
	"github.com/nfdproject/nfd/parser"
)

// printDNSStatus writes the status lines of sets filled from DNS answers.
func printDNSStatus(w io.Writer, s *hooks.DNSStatus) {
	if s == nil {
		return
	}
	fmt.Fprintf(w, "dns sets:    queue %d, %d packets, %d queries, %d answers matched; skipped: %d unsolicited, %d malformed, %d repeated; %d kernel errors\n",
		s.Queue, s.Packets, s.Queries, s.Answers, s.Unsolicited, s.Malformed, s.Repeated, s.KernelErrors)
	if s.LastError != "" {
		fmt.Fprintf(w, "             last kernel error: %s\n", s.LastError)
	}
	for _, x := range s.Sets {
		where := "kernel"
		if !x.Kernel {
			where = "nfd only"
		}
		fmt.Fprintf(w, "  %-22s %-16s %d/%d elements (%s), %d answers, %d added, %d refreshed, %d expired, refused %d full %d over budget; names %s\n",
			x.Table, x.Set, x.Elements, x.Limit, where, x.Answers, x.Added, x.Refreshed, x.Expired, x.Limited, x.Budgeted, strings.Join(x.Names, ", "))
	}
}

// dnsSetsListing writes, for `nfd rules`, a table's sets: those filled
// from DNS answers with their learned elements and the time each has
// left, the others as the file declares them.
func dnsSetsListing(b *strings.Builder, d *hooks.Daemon, t *parser.Table) {
	for _, s := range t.Sets {
		if s.DNS == nil {
			// As declared (the elements a ruleset adds at run time
			// are not listed).
			b.WriteString(parser.FormatSet(s))
			continue
		}
		fmt.Fprintf(b, "\tset %s { # dns names %s\n", s.Name, strings.Join(s.DNS.Names, ", "))
		for _, e := range d.DNSElements(t.Family, t.Name, s.Name) {
			fmt.Fprintf(b, "\t\t%s expires %s comment %q\n", e.Addr, e.Remaining.Round(time.Second), e.Name)
		}
		b.WriteString("\t}\n")
	}
}

// dnsSnapshot gathers the DNS sets' counters for one scrape.
func dnsSnapshot(d *hooks.Daemon) metrics.DNSSnapshot {
	s := d.DNSStatus()
	if s == nil {
		return metrics.DNSSnapshot{}
	}
	out := metrics.DNSSnapshot{Queries: s.Queries, Answers: s.Answers,
		Skipped: map[string]uint64{"malformed": s.Malformed, "unsolicited": s.Unsolicited, "kernel_error": s.KernelErrors}}
	for _, x := range s.Sets {
		out.Sets = append(out.Sets, metrics.DNSSetCount{Table: x.Table, Set: x.Set, Elements: x.Elements, Answers: x.Answers,
			Added: x.Added, Refreshed: x.Refreshed, Expired: x.Expired, Full: x.Limited, OverBudget: x.Budgeted})
	}
	return out
}
