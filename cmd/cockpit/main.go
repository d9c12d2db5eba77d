// Command cockpit runs BPMN 2.0 processes in an embedded engine. See internal/app for
// the commands; this file only connects them to the process.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/cockpit-engine/cockpit/internal/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := app.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
