package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"sort"
	"strings"

	"github.com/nfdproject/nfd/conntrack"
	"github.com/nfdproject/nfd/internal/pcapio"
	"github.com/nfdproject/nfd/internal/replay"
	"github.com/nfdproject/nfd/parser"
	"github.com/nfdproject/nfd/planner"
	"github.com/nfdproject/nfd/rules"
	"github.com/spf13/cobra"
)

func newReplayCmd() *cobra.Command {
	var rulesFile, hook, local string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "replay --rules FILE [--local ADDR,...] [--hook HOOK] CAPTURE",
		Short: "Run a pcap or pcapng capture through a ruleset, without root or kernel",
		Long: `replay runs every packet of CAPTURE through nfd's conntrack table and rule
engine and prints one line per packet (number, summary, verdict, deciding
rule) and a summary per verdict and rule. Each packet walks the hooks it
would pass in the kernel given the host's own addresses (--local):
prerouting and input to a local address, output and postrouting from one,
prerouting, forward and postrouting otherwise; --hook evaluates one hook.
The verdict is the first drop or reject, else accept. Interfaces are not
known in a capture, so iif/oif matches do not match. Rules only the kernel
can evaluate (fib, meta pkttype, socket, rt, meta skuid, ...) cannot be
replayed offline: replay assumes they do not match and says so on each
packet that reached one ("assumed no match: ...").`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if rulesFile == "" {
				return usageError("--rules is required")
			}
			var opts replay.Options
			if hook != "" {
				h, ok := parser.ParseHook(hook)
				if !ok {
					return usageError("unknown hook %q (prerouting, input, forward, output, postrouting)", hook)
				}
				opts.Hook = &h
			}
			for _, s := range strings.Split(local, ",") {
				if s = strings.TrimSpace(s); s == "" {
					continue
				}
				a, err := netip.ParseAddr(s)
				if err != nil {
					return usageError("--local: %v", err)
				}
				opts.Local = append(opts.Local, a)
			}
			rs, err := parser.ParseFile(rulesFile)
			if err != nil {
				return fileErrors(cmd, err)
			}
			pkts, err := pcapio.ReadFile(args[0])
			if err != nil {
				return &exitError{code: 1, msg: fmt.Sprintf("nfd replay: %s: %v", args[0], err)}
			}
			clk := &replay.Clock{}
			if len(pkts) > 0 {
				clk.Set(pkts[0].Time)
			}
			logger := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
			eng, err := rules.Compile(rs, rules.Options{Now: clk.Now, Logger: logger, KernelOnly: planner.KernelOnlyTest(), Offline: true})
			if err != nil {
				return &exitError{code: 1, msg: "nfd replay: " + err.Error()}
			}
			ct := conntrack.New(conntrack.Config{Now: clk.Now})
			results := replay.Run(eng, ct, clk, pkts, opts)
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), results)
			}
			writeText(cmd.OutOrStdout(), results)
			return nil
		},
	}
	cmd.Flags().StringVar(&rulesFile, "rules", "", "rule file (nft syntax)")
	cmd.Flags().StringVar(&hook, "hook", "", "evaluate only this hook")
	cmd.Flags().StringVar(&local, "local", "", "comma-separated addresses of the host")
	cmd.Flags().BoolVar(&asJSON, "json", false, "one JSON object per packet")
	_ = cmd.RegisterFlagCompletionFunc("hook", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"prerouting", "input", "forward", "output", "postrouting"}, cobra.ShellCompDirectiveNoFileComp
	})
	return cmd
}

type jsonResult struct {
	Packet  int    `json:"packet"`
	Hook    string `json:"hook"`
	Verdict string `json:"verdict"`
	Table   string `json:"table"`
	Chain   string `json:"chain"`
	Rule    string `json:"rule"`
	Summary string `json:"summary"`
	// Assumed: rules only the kernel can evaluate that the packet reached;
	// replay assumed each did not match.
	Assumed []string `json:"assumed_no_match,omitempty"`
}

// assumedText names the kernel-only rules a packet reached.
func assumedText(r replay.Result) []string {
	var out []string
	for _, a := range r.Assumed {
		out = append(out, fmt.Sprintf("%s %s/%s rule %s at %s: `%s`", a.Hook, a.Rule.Table, a.Rule.Chain, a.Rule.Label(), a.Rule.Pos, a.Rule.Text()))
	}
	return out
}

func decidedBy(d rules.Decision) (table, chain, rule string) {
	if d.Rule != nil {
		return d.Rule.Table, d.Rule.Chain, d.Rule.Label()
	}
	if d.Chain != nil {
		return d.Chain.Table, d.Chain.Name, ""
	}
	return "", "", ""
}

func writeJSON(w io.Writer, results []replay.Result) error {
	enc := json.NewEncoder(w)
	for _, r := range results {
		t, c, rl := decidedBy(r.Decision)
		if err := enc.Encode(jsonResult{Packet: r.N, Hook: r.Hook.String(), Verdict: r.Decision.Verdict.String(), Table: t, Chain: c, Rule: rl, Summary: r.Summary, Assumed: assumedText(r)}); err != nil {
			return err
		}
	}
	return nil
}

func writeText(w io.Writer, results []replay.Result) {
	perVerdict := map[string]int{}
	perRule := map[string]int{}
	assumed := 0
	for _, r := range results {
		if len(r.Assumed) > 0 {
			assumed++
		}
		t, c, rl := decidedBy(r.Decision)
		by := "policy"
		if rl != "" {
			by = "rule " + rl
		}
		where := ""
		if t != "" {
			where = fmt.Sprintf("%s/%s %s", t, c, by)
		}
		fmt.Fprintf(w, "%6d  %-60s  %-11s %-7s %s\n", r.N, r.Summary, r.Hook, r.Decision.Verdict, where)
		for _, a := range assumedText(r) {
			// Plainly: this verdict rests on a guess.
			fmt.Fprintf(w, "        assumed no match (only the kernel can evaluate it, replay cannot): %s\n", a)
		}
		perVerdict[r.Decision.Verdict.String()]++
		perRule[fmt.Sprintf("%-7s %s", r.Decision.Verdict, where)]++
	}
	fmt.Fprintf(w, "\n%d packets:", len(results))
	for _, v := range []string{"accept", "drop", "reject"} {
		fmt.Fprintf(w, " %s %d", v, perVerdict[v])
	}
	fmt.Fprintln(w)
	if assumed > 0 {
		fmt.Fprintf(w, "%d packets reached rules only the kernel can evaluate; their verdicts assume those rules did not match\n", assumed)
	}
	keys := make([]string, 0, len(perRule))
	for k := range perRule {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "%8d  %s\n", perRule[k], k)
	}
}

func usageError(format string, args ...any) error {
	return &exitError{code: 2, msg: "nfd: " + fmt.Sprintf(format, args...)}
}

// fileErrors prints a load's file:line:col errors and returns exit code 1.
func fileErrors(cmd *cobra.Command, err error) error {
	var el parser.ErrorList
	if errors.As(err, &el) {
		fmt.Fprintln(cmd.ErrOrStderr(), el.Pretty())
	} else {
		fmt.Fprintln(cmd.ErrOrStderr(), err)
	}
	return &exitError{code: 1}
}
