package app

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// errUsage marks a command line or environment that cannot be parsed: the command prints
// its usage and exits with code 2.
var errUsage = errors.New("usage error")

// command is one subcommand's flag set, where every flag has an environment twin.
// Precedence: the built-in default, overridden by the environment variable, overridden by
// the flag on the command line.
type command struct {
	name     string
	synopsis string // one line, after "Usage: "
	about    string // paragraph(s) printed under the synopsis
	getenv   func(string) string
	fs       *flag.FlagSet
	bindings []binding
	envErr   error
}

// binding remembers a flag's environment variable for the help text.
type binding struct {
	name, env, usage string
}

func newCommand(name, synopsis, about string, getenv func(string) string) *command {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	// The flag package would print errors and usage itself; parse reports both instead,
	// help to stdout and errors to stderr.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return &command{name: name, synopsis: synopsis, about: about, getenv: getenv, fs: fs}
}

// bind registers the flag value v under name with its environment variable env. An
// environment value that does not parse is an error reported by parse.
func (c *command) bind(v flag.Value, name, env, usage string) {
	c.fs.Var(v, name, usage)
	c.bindings = append(c.bindings, binding{name: name, env: env, usage: usage})
	if env == "" {
		return
	}
	if s, ok := c.lookupEnv(env); ok {
		if err := c.fs.Set(name, s); err != nil && c.envErr == nil {
			c.envErr = fmt.Errorf("environment variable %s=%q: %w", env, s, err)
		}
	}
}

// lookupEnv treats an empty variable as unset, as most shells and service managers make
// "unset" and "set to nothing" hard to tell apart.
func (c *command) lookupEnv(env string) (string, bool) {
	if c.getenv == nil {
		return "", false
	}
	s := c.getenv(env)
	return s, s != ""
}

func (c *command) stringVar(p *string, name, env, def, usage string) {
	*p = def
	c.bind((*stringValue)(p), name, env, usage)
}

func (c *command) boolVar(p *bool, name, env string, def bool, usage string) {
	*p = def
	c.bind((*boolValue)(p), name, env, usage)
}

func (c *command) intVar(p *int, name, env string, def int, usage string) {
	*p = def
	c.bind((*intValue)(p), name, env, usage)
}

func (c *command) floatVar(p *float64, name, env string, def float64, usage string) {
	*p = def
	c.bind((*floatValue)(p), name, env, usage)
}

func (c *command) durationVar(p *time.Duration, name, env string, def time.Duration, usage string) {
	*p = def
	c.bind((*durationValue)(p), name, env, usage)
}

// parse applies the environment (already done by bind) and then args. It returns
// flag.ErrHelp for -h/--help, and an error wrapping errUsage for bad input.
func (c *command) parse(args []string) error {
	if c.envErr != nil {
		return fmt.Errorf("%w: %w", errUsage, c.envErr)
	}
	if err := c.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	return nil
}

// args returns the positional arguments after parse.
func (c *command) args() []string { return c.fs.Args() }

// usage writes the help text: synopsis, description and every flag with its environment
// variable and built-in default.
func (c *command) usage(w io.Writer) {
	fmt.Fprintf(w, "Usage: %s\n", c.synopsis)
	if c.about != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimRight(c.about, "\n"))
	}
	if len(c.bindings) == 0 {
		return
	}
	fmt.Fprintf(w, "\nFlags (each can also be set by the environment variable shown; a flag wins over the environment):\n")
	for _, b := range c.bindings {
		f := c.fs.Lookup(b.name)
		head := "  --" + b.name
		if _, isBool := f.Value.(*boolValue); !isBool {
			head += " " + valueName(f.Value)
		}
		fmt.Fprintf(w, "%s\n", head)
		fmt.Fprintf(w, "        %s\n", b.usage)
		var meta []string
		if b.env != "" {
			meta = append(meta, "env "+b.env)
		}
		if f.DefValue != "" {
			meta = append(meta, "default "+f.DefValue)
		}
		if len(meta) > 0 {
			fmt.Fprintf(w, "        (%s)\n", strings.Join(meta, ", "))
		}
	}
	fmt.Fprintf(w, "  -h, --help\n        show this help\n")
}

func valueName(v flag.Value) string {
	switch v.(type) {
	case *intValue:
		return "N"
	case *floatValue:
		return "X"
	case *durationValue:
		return "DURATION"
	}
	return "VALUE"
}

// The flag values below are the flag package's own, re-declared so that bind can take
// them as flag.Value and usage can tell the kinds apart. DefValue is taken from String at
// registration, which is the built-in default because bind sets the environment after.

type stringValue string

func (s *stringValue) Set(v string) error { *s = stringValue(v); return nil }
func (s *stringValue) String() string     { return string(*s) }

type boolValue bool

func (b *boolValue) Set(v string) error {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "t", "true", "yes", "on":
		*b = true
	case "0", "f", "false", "no", "off":
		*b = false
	default:
		return fmt.Errorf("%q is not a boolean (use true or false)", v)
	}
	return nil
}
func (b *boolValue) String() string {
	if *b {
		return "true"
	}
	return "false"
}

// IsBoolFlag lets --demo stand alone on the command line (as --demo=false turns it off).
func (b *boolValue) IsBoolFlag() bool { return true }

type intValue int

func (i *intValue) Set(v string) error {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return fmt.Errorf("%q is not a whole number", v)
	}
	*i = intValue(n)
	return nil
}
func (i *intValue) String() string { return fmt.Sprint(int(*i)) }

type floatValue float64

func (f *floatValue) Set(v string) error {
	x, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil {
		return fmt.Errorf("%q is not a number", v)
	}
	*f = floatValue(x)
	return nil
}
func (f *floatValue) String() string { return fmt.Sprint(float64(*f)) }

type durationValue time.Duration

func (d *durationValue) Set(v string) error {
	x, err := time.ParseDuration(strings.TrimSpace(v))
	if err != nil {
		return fmt.Errorf("%q is not a duration (e.g. 30s, 2m)", v)
	}
	*d = durationValue(x)
	return nil
}
func (d *durationValue) String() string { return time.Duration(*d).String() }
