// Command nfd is the nfd firewall daemon and its client commands.
package main

import (
	"errors"
	"fmt"
	"os"
)

// exitError carries a process exit code out of a command.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func main() {
	root := newRootCmd()
	err := root.Execute()
	if err == nil {
		return
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintln(os.Stderr, ee.msg)
		}
		os.Exit(ee.code)
	}
	// Anything cobra itself returns is a usage error.
	fmt.Fprintf(os.Stderr, "nfd: %v\nRun 'nfd --help' for usage.\n", err)
	os.Exit(2)
}
