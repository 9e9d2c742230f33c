package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/nfdproject/nfd/conntrack"
	"github.com/nfdproject/nfd/hooks"
	"github.com/nfdproject/nfd/internal/control"
)

func addSocketFlag(cmd *cobra.Command, p *string) {
	cmd.Flags().StringVar(p, "socket", control.DefaultSocket, "control socket of the daemon")
}

func call(socket string, req control.Request, out any) error {
	err := control.Call(socket, req, out)
	if err == nil {
		return nil
	}
	var re *control.RemoteError
	if errors.As(err, &re) {
		return &exitError{code: 1, msg: re.Msg}
	}
	return &exitError{code: 1, msg: "nfd: " + err.Error()}
}

func newStatusCmd() *cobra.Command {
	var socket string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the running daemon's state",
		Long:  "status asks the daemon on --socket; it exits 0 when the daemon answers, 1 when none does.",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var s hooks.Status
			if err := call(socket, control.Request{Cmd: "status"}, &s); err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(s)
			}
			printStatus(cmd, &s)
			return nil
		},
	}
	addSocketFlag(cmd, &socket)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func printStatus(cmd *cobra.Command, s *hooks.Status) {
	w := cmd.OutOrStdout()
	if l := s.Loading; l != nil {
		fmt.Fprintf(w, "loading:     %s of %s: %s (step %d of %d) for %.1fs, %.1fs in all", l.Kind, l.File, l.Phase, l.Step, l.Steps, l.PhaseSeconds, l.Seconds)
		if l.Rules > 0 || l.Elements > 0 {
			fmt.Fprintf(w, "; %d rules, %d set elements", l.Rules, l.Elements)
		}
		fmt.Fprintln(w)
	}
	if s.State == "starting" && s.RulesFile == "" {
		fmt.Fprintf(w, "nfd %s, pid %d, starting\n", s.Version, s.PID)
		return
	}
	fmt.Fprintf(w, "nfd %s, pid %d, up %s\n", s.Version, s.PID, time.Duration(s.UptimeSeconds*float64(time.Second)).Round(time.Second))
	fmt.Fprintf(w, "queue mode:  %s\noffload:     %s\n", s.QueueMode, s.Offload)
	if s.BusyPoll != "" {
		fmt.Fprintf(w, "busy poll:   %s after each batch, per queue\n", s.BusyPoll)
	}
	fmt.Fprintf(w, "rules:       %s (sha256 %s, loaded %s, %d reloads, %d failed)\n", s.RulesFile, short(s.Checksum), s.Loaded.Format(time.RFC3339), s.Reloads, s.ReloadErrors)
	for _, x := range s.Warnings {
		fmt.Fprintf(w, "warning:     %s\n", x)
	}
	fmt.Fprintf(w, "kernel:      %s\n", strings.Join(s.KernelTables, ", "))
	fmt.Fprintln(w, "chains:")
	for _, c := range s.Chains {
		bypass := ""
		if c.BypassMark != "" {
			bypass = " bypass mark " + c.BypassMark
		}
		fmt.Fprintf(w, "  %-22s %-12s hook %-11s priority %-5d policy %-6s native rules %-4d queues %s%s\n", c.Table, c.Chain, c.Hook, c.Priority, c.Policy, c.Native, c.Queues, bypass)
	}
	if s.ContMask != "" {
		fmt.Fprintf(w, "continued:   %d packets handed back to the kernel at rules only it can evaluate, %d rejects the kernel answered (mark bits %s)\n", s.Continued, s.RejectedInKernel, s.ContMask)
	}
	if s.Bypassed > 0 || s.BypassRevoking != "" {
		fmt.Fprintf(w, "bypass:      %d flows handed to the kernel", s.Bypassed)
		if s.BypassRevoking != "" {
			fmt.Fprintf(w, "; clearing marks %s of an older ruleset", s.BypassRevoking)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, "hooks:       packets     accept       drop     reject        bytes  in kernel")
	hooksOrder := []string{"prerouting", "input", "forward", "output", "postrouting"}
	for _, h := range hooksOrder {
		x := s.Hooks[h]
		fmt.Fprintf(w, "  %-11s %10d %10d %10d %10d %12d %10d\n", h, x.Packets, x.Accept, x.Drop, x.Reject, x.Bytes, x.Native)
	}
	fmt.Fprintln(w, "             (packets..bytes: decided by nfd; in kernel: by offloaded rules and chain policies)")
	if s.PendingApply != nil {
		fmt.Fprintf(w, "PENDING:     an apply reverts at %s unless `nfd confirm`\n", s.PendingApply.Format(time.RFC3339))
	}
	fmt.Fprintf(w, "conntrack:   %d/%d entries, %d inserts, %d evictions, %d drops, %d invalid, %d imported and %d resynced from the kernel; kernel sync %s\n",
		s.Conntrack.Entries, s.Conntrack.Max, s.Conntrack.Inserts, s.Conntrack.Evictions, s.Conntrack.Drops, s.Conntrack.Invalid,
		s.Conntrack.Imported, s.Conntrack.Resynced, s.ConntrackSync)
	if n := s.Conntrack.NamesAbandoned; n > 0 {
		fmt.Fprintf(w, "             %d ClientHellos or HTTP request heads over several segments not reassembled (out of order, too slow or too many at once): those connections have no name of that kind\n", n)
	}
	printDNSStatus(w, s.DNS)
}

func short(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

func newReloadCmd() *cobra.Command {
	var socket string
	cmd := &cobra.Command{
		Use:   "reload [FILE]",
		Short: "Load a rule file into the running daemon, atomically",
		Long: `reload asks the daemon to parse, validate, compile and program FILE (or its
current file) as one transaction. On any error the old ruleset keeps
running, the errors are printed and reload exits 1.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := control.Request{Cmd: "reload", Args: map[string]string{}}
			if len(args) == 1 {
				abs, err := filepath.Abs(args[0])
				if err != nil {
					return usageError("%v", err)
				}
				if _, err := os.Stat(abs); err != nil {
					return &exitError{code: 1, msg: "nfd reload: " + err.Error()}
				}
				req.Args["file"] = abs
			}
			var s hooks.Status
			if err := call(socket, req, &s); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "reloaded %s (sha256 %s)\n", s.RulesFile, short(s.Checksum))
			for _, w := range s.Warnings {
				fmt.Fprintln(cmd.ErrOrStderr(), w)
			}
			return nil
		},
	}
	addSocketFlag(cmd, &socket)
	return cmd
}

func newApplyCmd() *cobra.Command {
	var socket string
	var confirm time.Duration
	cmd := &cobra.Command{
		Use:   "apply --confirm DURATION FILE",
		Short: "Load FILE and roll back to the current ruleset unless `nfd confirm` arrives in time",
		Long: `apply loads FILE like reload, then waits: unless ` + "`nfd confirm`" + ` arrives within
--confirm, the daemon restores the ruleset it ran before, even if it was
restarted meanwhile. Use it for changes that could cut you off.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if confirm <= 0 {
				return usageError("--confirm DURATION is required (for example 60s)")
			}
			abs, err := filepath.Abs(args[0])
			if err != nil {
				return usageError("%v", err)
			}
			var deadline time.Time
			if err := call(socket, control.Request{Cmd: "apply", Args: map[string]string{"file": abs, "confirm": confirm.String()}}, &deadline); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "applied %s; run `nfd confirm` before %s or the previous ruleset returns\n", abs, deadline.Format(time.RFC3339))
			return nil
		},
	}
	addSocketFlag(cmd, &socket)
	cmd.Flags().DurationVar(&confirm, "confirm", 0, "how long to wait for `nfd confirm`")
	return cmd
}

func newConfirmCmd() *cobra.Command {
	var socket string
	cmd := &cobra.Command{
		Use:   "confirm",
		Short: "Keep the ruleset loaded by `nfd apply`",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := call(socket, control.Request{Cmd: "confirm"}, nil); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "confirmed")
			return nil
		},
	}
	addSocketFlag(cmd, &socket)
	return cmd
}

func newTraceCmd() *cobra.Command {
	var socket string
	var count int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "trace [FILTER]",
		Short: "Stream the packets the daemon decides: hook, chain path, deciding rule, verdict",
		Long: `trace streams one line per packet nfd decides, like ` + "`nft monitor trace`" + ` but
also for nfd's own matches. FILTER is an nft match expression such as
'tcp dport 22' or 'ip saddr 10.0.0.0/8 udp dport 53'. Packets decided by
offloaded (native) rules never reach nfd and are not shown. Ctrl-C stops.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			req := control.Request{Cmd: "trace", Args: map[string]string{"filter": strings.Join(args, " "), "count": fmt.Sprint(count)}}
			err := control.Stream(ctx, socket, req, func(raw json.RawMessage) error {
				if asJSON {
					fmt.Fprintln(cmd.OutOrStdout(), string(raw))
					return nil
				}
				var ev hooks.TraceEvent
				if err := json.Unmarshal(raw, &ev); err != nil {
					return err
				}
				rule := "policy"
				if ev.Rule != "" {
					rule = "rule " + ev.Rule
				}
				if ev.Resumed != 0 {
					rule += fmt.Sprintf(" (resumed from the kernel at continuation %d)", ev.Resumed)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s %-11s %-60s ct %-11s %s %s: %s -> %s\n", ev.Time.Format("15:04:05.000000"), ev.Hook, ev.Packet, ev.CT, ev.Table, ev.Path, rule, ev.Verdict)
				if ev.Kernel != "" {
					fmt.Fprintf(cmd.OutOrStdout(), "    continued in the kernel: %s\n", ev.Kernel)
				}
				return nil
			})
			if err != nil && !errors.Is(err, io.EOF) {
				var re *control.RemoteError
				if errors.As(err, &re) {
					return &exitError{code: 1, msg: re.Msg}
				}
				return &exitError{code: 1, msg: "nfd trace: " + err.Error()}
			}
			return nil
		},
	}
	addSocketFlag(cmd, &socket)
	cmd.Flags().IntVar(&count, "count", 0, "stop after this many packets (0: until interrupted)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON events")
	return cmd
}

func newRulesCmd() *cobra.Command {
	var socket string
	cmd := &cobra.Command{
		Use:   "rules",
		Short: "Print the running ruleset with each rule's placement (kernel or userspace) and counts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var text string
			if err := call(socket, control.Request{Cmd: "rules"}, &text); err != nil {
				return err
			}
			fmt.Fprint(cmd.OutOrStdout(), text)
			return nil
		},
	}
	addSocketFlag(cmd, &socket)
	return cmd
}

func newConntrackCmd() *cobra.Command {
	var socket string
	root := &cobra.Command{Use: "conntrack", Short: "Inspect the daemon's connection table"}
	root.PersistentFlags().StringVar(&socket, "socket", control.DefaultSocket, "control socket of the daemon")
	list := &cobra.Command{
		Use: "list", Short: "List connections in the format of `conntrack -L -o extended`", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var lines []string
			if err := call(socket, control.Request{Cmd: "conntrack-list"}, &lines); err != nil {
				return err
			}
			for _, l := range lines {
				fmt.Fprintln(cmd.OutOrStdout(), l)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "nfd conntrack: %d flow entries have been shown.\n", len(lines))
			return nil
		},
	}
	flush := &cobra.Command{
		Use: "flush", Short: "Remove every connection from the daemon's table", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return call(socket, control.Request{Cmd: "conntrack-flush"}, nil)
		},
	}
	stats := &cobra.Command{
		Use: "stats", Short: "Show the table's counters", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var s conntrack.Stats
			if err := call(socket, control.Request{Cmd: "conntrack-stats"}, &s); err != nil {
				return err
			}
			m := map[string]any{"entries": s.Entries, "max": s.Max, "inserts": s.Inserts, "evictions": s.Evictions,
				"drops": s.Drops, "invalid": s.Invalid, "expired": s.Expired, "kernel_deleted": s.KernelDeleted, "related": s.Related}
			keys := make([]string, 0, len(m))
			for k := range m {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				fmt.Fprintf(cmd.OutOrStdout(), "%-15s %v\n", k, m[k])
			}
			return nil
		},
	}
	root.AddCommand(list, flush, stats)
	return root
}
