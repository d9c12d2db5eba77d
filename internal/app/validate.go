package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
)

func newValidateCommand(getenv func(string) string) *command {
	return newCommand("validate", "cockpit validate [--job-types T1,T2] FILE...",
		`Checks each BPMN file exactly as a deployment does, and prints, per process, which
elements the engine will execute and which it will not (with element ids, kinds and
lines), the problems that make a deployment refuse it (dangling references, bad
expressions, timers that cannot run or repeat more often than once a second, ...), and
warnings that do not.

A file that cannot be imported (not well-formed XML, not BPMN, over the limits of
10 MiB, 50,000 elements or 64 levels of nesting) is reported as FILE:LINE:COL: message.
The exit status is 1 when a file cannot be imported or a process marked executable in it
cannot be deployed. Descriptive processes (isExecutable is not true) do not change the
exit status: a descriptive model is still a valid model.

Each process lists the job types of its service tasks. validate runs no engine, so it
cannot know which types a running engine serves: name them with --job-types, and each
service task whose type is not among them is reported as a warning (its jobs would wait
forever). Warnings do not change the exit status; deploy warns the same way with the
handlers the engine has.`,
		getenv)
}

func (a *App) validate(_ context.Context, args []string) error {
	c := newValidateCommand(a.Getenv)
	var jobTypes string
	c.stringVar(&jobTypes, "job-types", "", "", "comma-separated job types that are served: warn about service tasks of any other type")
	if err := a.parseFlags(c, args); err != nil {
		return err
	}
	served := servedSet(jobTypes)
	files := c.args()
	if len(files) == 0 {
		return a.usageError(c, "no BPMN file given")
	}
	failed, refused, printed := 0, 0, 0
	var out bytes.Buffer
	for _, name := range files {
		out.Reset()
		deployable, err := validateFile(&out, name, served)
		if err != nil {
			failed++
			fmt.Fprintln(a.Stderr, err)
			continue
		}
		if !deployable {
			refused++
		}
		if printed > 0 {
			fmt.Fprintln(a.Stdout)
		}
		printed++
		_, _ = a.Stdout.Write(out.Bytes())
	}
	if failed > 0 {
		fmt.Fprintf(a.Stderr, "cockpit validate: %d of %d files could not be imported\n", failed, len(files))
	}
	if refused > 0 {
		fmt.Fprintf(a.Stderr, "cockpit validate: %d of %d files have executable processes that cannot be deployed\n", refused, len(files))
	}
	if failed > 0 || refused > 0 {
		return codeError{code: exitError}
	}
	return nil
}

// validateFile prints the report of one file and whether its executable processes can be
// deployed, or returns why it cannot be imported as FILE:LINE:COL: message. It runs the
// checks of a deployment (engine.Validate).
func validateFile(w io.Writer, name string, served map[string]bool) (deployable bool, err error) {
	f, err := os.Open(name)
	if err != nil {
		return false, fmt.Errorf("%s: %w", name, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, bpmn.MaxDocumentBytes+1))
	if err != nil {
		return false, fmt.Errorf("%s: %w", name, err)
	}
	v, err := engine.Validate(data)
	if err != nil {
		var pe *bpmn.ParseError
		if errors.As(err, &pe) {
			return false, fmt.Errorf("%s:%d:%d: %s", name, pe.Line, pe.Col, pe.Msg)
		}
		return false, fmt.Errorf("%s: %w", name, err)
	}
	printReport(w, name, v.Report, v.Definitions, served)
	err = v.Err()
	if err != nil && v.Report.Err() == nil {
		// Nothing is marked executable: a descriptive model, which deploy refuses
		// but which is not wrong.
		fmt.Fprintf(w, "  nothing to deploy: no process is marked isExecutable=\"true\"\n")
		return true, nil
	}
	return err == nil, nil
}

func printReport(w io.Writer, name string, rep *bpmn.Report, defs *bpmn.Definitions, served map[string]bool) {
	fmt.Fprintf(w, "%s: %s\n", name, plural(len(rep.Processes), "process", "processes"))
	for _, p := range rep.Processes {
		verdict := "all elements execute"
		switch {
		case !p.IsExecutable:
			verdict = "descriptive (isExecutable is not true): it is not deployed"
		case !p.OK():
			verdict = "cannot be deployed"
		}
		label := p.ID
		if p.Name != "" {
			label += fmt.Sprintf(" %q", p.Name)
		}
		fmt.Fprintf(w, "  process %s: %s\n", label, verdict)
		printFindings(w, fmt.Sprintf("executes (%d)", len(p.Executes)), withoutMessages(p.Executes))
		printFindings(w, fmt.Sprintf("does not execute (%d)", len(p.Unsupported)), p.Unsupported)
		printFindings(w, fmt.Sprintf("problems (%d)", len(p.Problems)), p.Problems)
		printJobTypes(w, defs, p.ID, served)
	}
	if len(rep.Warnings) > 0 {
		fmt.Fprintf(w, "  document:\n")
		printFindings(w, fmt.Sprintf("warnings (%d)", len(rep.Warnings)), rep.Warnings)
	}
}

func printFindings(w io.Writer, title string, fs []bpmn.Finding) {
	if len(fs) == 0 {
		return
	}
	fmt.Fprintf(w, "    %s:\n", title)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, f := range fs {
		line := "-"
		if f.Line > 0 {
			line = fmt.Sprint(f.Line)
		}
		msg := ""
		if f.Message != "" {
			msg = "\t" + f.Message
		}
		fmt.Fprintf(tw, "      line %s\t%s\t%s%s\n", line, f.Kind, f.ElementID, msg)
	}
	_ = tw.Flush()
}

// withoutMessages drops the messages of the executes list, which only repeat its title.
func withoutMessages(fs []bpmn.Finding) []bpmn.Finding {
	out := make([]bpmn.Finding, len(fs))
	for i, f := range fs {
		f.Message = ""
		out[i] = f
	}
	return out
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", one)
	}
	return fmt.Sprintf("%d %s", n, many)
}
