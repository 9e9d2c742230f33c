package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/nfdproject/nfd/parser"
	"github.com/nfdproject/nfd/planner"
	"github.com/spf13/cobra"
)

func newCheckCmd() *cobra.Command {
	var print bool
	var offload string
	var ifaces []string
	cmd := &cobra.Command{
		Use:   "check FILE...",
		Short: "Parse and validate rule files without root and without touching the kernel",
		Long: `check parses and validates each FILE. It exits 0 when every file is valid,
1 with FILE:LINE:COL errors on stderr when any is not, 2 on usage errors.
Warnings (FILE:LINE:COL: warning: ...) point at rules that load but most
likely do not do what was meant; they do not change the exit status.
check also plans the ruleset as nfd run --offload would (no kernel is
asked), so a rule a kernel-only chain cannot run, or a name too long for
nfd's own tables, is an error here too.
With --print it writes each valid ruleset in canonical nft form to stdout.
iif and oif name interfaces of this machine (nft resolves them to indexes
when it loads the rules and refuses a missing one, and so does check);
--interface NAME checks as if NAME existed too, for a file written for
another machine.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(ifaces) > 0 {
				defer parser.SetInterfaces(parser.WithAssumed(parser.SystemInterfaces{}, ifaces))()
			}
			failed := 0
			for _, f := range args {
				rs, err := parser.ParseFile(f)
				if err != nil {
					failed++
					var el parser.ErrorList
					if errors.As(err, &el) {
						fmt.Fprintln(cmd.ErrOrStderr(), el.Pretty())
					} else {
						fmt.Fprintf(cmd.ErrOrStderr(), "%s: error: %v\n", f, err)
					}
					continue
				}
				for _, w := range parser.Lint(rs) {
					fmt.Fprintln(cmd.ErrOrStderr(), w)
				}
				if _, _, err := planner.PlanRuleset(rs, offload); err != nil {
					failed++
					fmt.Fprintln(cmd.ErrOrStderr(), planError(err))
					continue
				}
				if print {
					fmt.Fprint(cmd.OutOrStdout(), parser.Print(rs))
				}
			}
			if failed > 0 {
				return &exitError{code: 1, msg: fmt.Sprintf("nfd check: %d of %d files have errors", failed, len(args))}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&print, "print", false, "print the ruleset in canonical nft form")
	cmd.Flags().StringVar(&offload, "offload", planner.OffloadAuto, "plan as nfd run --offload does: auto or none")
	cmd.Flags().StringSliceVar(&ifaces, "interface", nil, "check as if this interface existed (for iif/oif; repeatable, or comma-separated)")
	cmd.PreRunE = func(*cobra.Command, []string) error {
		if offload != planner.OffloadAuto && offload != planner.OffloadNone {
			return usageError("--offload must be auto or none")
		}
		return nil
	}
	return cmd
}

// planError shows a planner error as the parser shows its own: position,
// message, the source line and a caret.
func planError(err error) string {
	var pe *planner.Error
	if !errors.As(err, &pe) {
		return "error: " + err.Error()
	}
	pretty := &parser.Error{Pos: pe.Pos, Msg: pe.Msg}
	if src, err := os.ReadFile(pe.Pos.File); err == nil {
		if lines := strings.Split(string(src), "\n"); pe.Pos.Line >= 1 && pe.Pos.Line <= len(lines) {
			pretty.Line = lines[pe.Pos.Line-1]
		}
	}
	return pretty.Pretty()
}
