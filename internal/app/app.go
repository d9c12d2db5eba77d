// Package app is the cockpit command: its subcommands, their configuration (flags with
// environment twins) and the start-up and shutdown of the server. cmd/cockpit only hands
// it the arguments, the output streams and a context that ends on a signal, so that all
// of this is testable in-process.
package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // the command ran and failed
	exitUsage = 2 // bad flags, arguments or environment
)

// App is one run of the cockpit command. Its zero value is not usable: set Stdout,
// Stderr and Getenv (Main does).
type App struct {
	Stdout io.Writer
	Stderr io.Writer
	// Getenv reads the environment (os.Getenv in the binary; a map in tests).
	Getenv func(string) string
	// Ready, when set, is called by serve with the address it listens on once the
	// server accepts connections (tests listen on 127.0.0.1:0).
	Ready func(addr string)
}

// Main runs the cockpit command with the process environment and returns its exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	a := &App{Stdout: stdout, Stderr: stderr, Getenv: os.Getenv}
	return a.Run(ctx, args)
}

// subcommands in the order the help lists them.
var subcommands = []struct {
	name, summary string
}{
	{"serve", "run the engine, the demo and the JSON API (the default command)"},
	{"validate", "check BPMN files: what will execute and what will not"},
	{"bench", "measure the engine on the reference flow"},
	{"migrate", "apply, roll back or list the database migrations"},
	{"metrics", "rebuild the metrics rollups from the history"},
	{"rebuild", "build an observing cockpit's read model from the event streams"},
}

// Run dispatches args[0] to a subcommand; without one (or when the first argument is a
// flag) it serves.
func (a *App) Run(ctx context.Context, args []string) int {
	name, rest := "serve", args
	if len(args) > 0 {
		switch first := args[0]; {
		case first == "-h" || first == "-help" || first == "--help" || first == "help":
			a.usage(a.Stdout)
			return exitOK
		case !strings.HasPrefix(first, "-"):
			name, rest = first, args[1:]
		}
	}
	var err error
	switch name {
	case "serve":
		err = a.serve(ctx, rest)
	case "validate":
		err = a.validate(ctx, rest)
	case "bench":
		err = a.bench(ctx, rest)
	case "migrate":
		err = a.migrate(ctx, rest)
	case "metrics":
		err = a.metrics(ctx, rest)
	case "rebuild":
		err = a.rebuild(ctx, rest)
	default:
		fmt.Fprintf(a.Stderr, "cockpit: unknown command %q\n\n", name)
		a.usage(a.Stderr)
		return exitUsage
	}
	return a.exitCode(err)
}

// exitCode turns a subcommand's error into the process exit code; the usage of a bad
// command line has already been printed by the subcommand.
func (a *App) exitCode(err error) int {
	var ee codeError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.Is(err, errUsage):
		return exitUsage
	case errors.As(err, &ee):
		return ee.code
	}
	fmt.Fprintf(a.Stderr, "cockpit: %v\n", err)
	return exitError
}

// codeError ends a command with a code, after the command printed what went wrong.
type codeError struct{ code int }

func (e codeError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func (a *App) usage(w io.Writer) {
	fmt.Fprintf(w, "Cockpit runs BPMN 2.0 processes in an embedded engine.\n\n")
	fmt.Fprintf(w, "Usage: cockpit [command] [flags]\n\nCommands:\n")
	for _, c := range subcommands {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nRun 'cockpit COMMAND --help' for the flags of a command and their environment variables.\n")
}

// parseFlags parses a subcommand's arguments, printing its help (to stdout) or the error
// and usage (to stderr). The error it returns maps to the right exit code.
func (a *App) parseFlags(c *command, args []string) error {
	err := c.parse(args)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, flag.ErrHelp):
		c.usage(a.Stdout)
	default:
		fmt.Fprintf(a.Stderr, "cockpit %s: %v\n\n", c.name, strings.TrimPrefix(err.Error(), errUsage.Error()+": "))
		c.usage(a.Stderr)
	}
	return err
}

// usageError prints msg and the command's usage to stderr and returns an error that
// exits with code 2.
func (a *App) usageError(c *command, format string, args ...any) error {
	fmt.Fprintf(a.Stderr, "cockpit %s: %s\n\n", c.name, fmt.Sprintf(format, args...))
	c.usage(a.Stderr)
	return errUsage
}
