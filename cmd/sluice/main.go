package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // runtime or configuration error
	exitUsage = 2 // bad command line, or a command not implemented yet
)

// exitErr carries an exit code and, optionally, a message already meant
// for the user.
type exitErr struct {
	code  int
	err   error // nil: the message was already printed
	usage bool  // a bad command line: point at --help
}

func (e *exitErr) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

func (e *exitErr) Unwrap() error { return e.err }

func usageErr(format string, args ...any) error {
	return &exitErr{code: exitUsage, err: fmt.Errorf(format, args...), usage: true}
}

// run executes the command line args and returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCmd(stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var ee *exitErr
	if !errors.As(err, &ee) {
		ee = &exitErr{code: exitError, err: err}
	}
	if ee.err != nil {
		for _, line := range strings.Split(ee.err.Error(), "\n") {
			fmt.Fprintln(stderr, line)
		}
	}
	if ee.usage {
		fmt.Fprintln(stderr, "Run 'sluice --help' for usage.")
	}
	return ee.code
}
