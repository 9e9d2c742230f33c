package main

import (
	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "nfd",
		Short: "nfd is a userspace netfilter firewall daemon driven by nftables rule files",
		Long: `nfd runs an nftables-syntax ruleset: rules the kernel can run are offloaded to
native nftables, the rest (TLS SNI, HTTP Host, DNS query name) reach nfd's
rule engine through NFQUEUE.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newCheckCmd(), newVersionCmd(), newReplayCmd(), newRunCmd(), newStatusCmd(), newReloadCmd(), newConntrackCmd(), newRulesCmd(), newApplyCmd(), newConfirmCmd(), newTraceCmd())
	return root
}
