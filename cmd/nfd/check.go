package main

import (
	"errors"
	"fmt"

	"github.com/nfdproject/nfd/parser"
	"github.com/spf13/cobra"
)

func newCheckCmd() *cobra.Command {
	var print bool
	cmd := &cobra.Command{
		Use:   "check FILE...",
		Short: "Parse and validate rule files without root and without touching the kernel",
		Long: `check parses and validates each FILE. It exits 0 when every file is valid,
1 with FILE:LINE:COL errors on stderr when any is not, 2 on usage errors.
Warnings (FILE:LINE:COL: warning: ...) point at rules that load but most
likely do not do what was meant; they do not change the exit status.
With --print it writes each valid ruleset in canonical nft form to stdout.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
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
	return cmd
}
