package worker

// This file owns custom options: Option, its values from flags and from a
// master's parsed_options, attaching options to classes, and finding the
// master's custom options that no class takes. flags.go makes them flags;
// the session (session_messages.go) applies a spawn's values.

import (
	"fmt"
	"log/slog"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// optionValue is the set of types a custom option can hold: bool, int,
// float64, string, types based on them, and time.Duration.
type optionValue interface {
	~bool | ~int | ~float64 | ~string | time.Duration
}

// Option is a custom option that user code declares and reads, like an
// argument added in Locust's init_command_line_parser. In standalone mode
// its value comes from the --NAME flag (or the LOCUST_NAME environment
// variable); in worker mode from the master's command line, which must
// declare the same option. Value is safe to call from any goroutine.
//
// An option must be attached with [UserClass.Options] to the classes
// that read it: only then is it a flag and takes the master's value. One
// attached to no class is caught where its value would be given:
// standalone, its flag is an unknown option and the program exits with
// [ExitUsage]; as a worker, each custom option of the master's command
// line that no class takes is logged as a warning naming it, at the
// first spawn. (A LOCUST_NAME variable of an unattached option cannot be
// told from one meant for a Python Locust and is ignored.) (Locust's
// own options are told apart by name; an option of a newer Locust or a
// plugin may be named too, harmlessly.)
type Option[T optionValue] struct {
	name, usage string
	def         T
	value       atomic.Pointer[T]
}

// NewOption declares an option called name (as on the command line, e.g.
// "login-ratio") with a default value and a one-line usage text. T is
// bool, int, float64, string, a type based on one of them, or
// time.Duration (given as 90s, 5m or a number of seconds).
func NewOption[T optionValue](name string, def T, usage string) *Option[T] {
	return &Option[T]{name: name, usage: usage, def: def}
}

// FloatOption declares a float64 option; see [NewOption].
func FloatOption(name string, def float64, usage string) *Option[float64] {
	return NewOption(name, def, usage)
}

// IntOption declares an int option; see [NewOption].
func IntOption(name string, def int, usage string) *Option[int] { return NewOption(name, def, usage) }

// StringOption declares a string option; see [NewOption].
func StringOption(name string, def string, usage string) *Option[string] {
	return NewOption(name, def, usage)
}

// BoolOption declares a bool option; see [NewOption].
func BoolOption(name string, def bool, usage string) *Option[bool] {
	return NewOption(name, def, usage)
}

// Value returns the option's current value.
func (o *Option[T]) Value() T {
	if v := o.value.Load(); v != nil {
		return *v
	}
	return o.def
}

// Name returns the option's command-line name.
func (o *Option[T]) Name() string { return o.name }

// Set sets the value from its command-line text.
func (o *Option[T]) Set(s string) error {
	var v T
	var err error
	switch e := reflect.ValueOf(&v).Elem(); optionKind[T]() {
	case reflect.Bool:
		var b bool
		b, err = strconv.ParseBool(s)
		e.SetBool(b)
	case reflect.Int:
		var n int
		n, err = strconv.Atoi(s)
		e.SetInt(int64(n))
	case reflect.Float64:
		var f float64
		f, err = strconv.ParseFloat(s, 64)
		e.SetFloat(f)
	case reflect.String:
		e.SetString(s)
	case reflect.Int64: // time.Duration, the only int64 type optionValue allows
		var d time.Duration
		d, err = parseRunTime(s)
		e.SetInt(int64(d))
	}
	if err != nil {
		return fmt.Errorf("option --%s: %s is not a %T", o.name, quoteClipped(s), o.def)
	}
	o.value.Store(&v)
	return nil
}

// optionKind returns the kind of T: optionValue allows named types (type
// Ratio float64), so T is told by its kind, never by a type switch.
func optionKind[T optionValue]() reflect.Kind {
	return reflect.TypeFor[T]().Kind()
}

// String returns the current value as command-line text.
func (o *Option[T]) String() string {
	if o == nil {
		return ""
	}
	return fmt.Sprint(o.Value())
}

// IsBoolFlag lets a bool option stand alone on the command line.
func (o *Option[T]) IsBoolFlag() bool { return optionKind[T]() == reflect.Bool }

func (o *Option[T]) optionName() string  { return o.name }
func (o *Option[T]) optionUsage() string { return o.usage }

// key is the option's name in a master's parsed_options, as argparse
// names it: dashes become underscores.
func (o *Option[T]) key() string { return strings.ReplaceAll(strings.TrimLeft(o.name, "-"), "-", "_") }

// setFromMaster sets the value from a parsed_options entry.
func (o *Option[T]) setFromMaster(v any) error {
	if v == nil {
		return nil
	}
	if text, ok := v.(string); ok {
		// A master started from its web form sends custom options as the
		// form's text, whatever their declared type.
		if err := o.Set(text); err != nil {
			return fmt.Errorf("option %s: %w", o.key(), err)
		}
		return nil
	}
	var out T
	if err := masterValue(reflect.ValueOf(&out).Elem(), v); err != nil {
		return fmt.Errorf("option %s: %w", o.key(), err)
	}
	o.value.Store(&out)
	return nil
}

// masterValue sets out, an option's value of one of optionValue's kinds,
// from v, a non-string value of a master's parsed_options.
func masterValue(out reflect.Value, v any) error {
	switch out.Kind() {
	case reflect.Bool:
		b, ok := v.(bool)
		if !ok {
			return fmt.Errorf("master sent %T %v, want a bool", v, v)
		}
		out.SetBool(b)
	case reflect.Int:
		switch n := v.(type) {
		case int64:
			out.SetInt(n)
		case float64:
			if n != math.Trunc(n) || math.Abs(n) > 1<<53 {
				return fmt.Errorf("master sent %v, want a whole number", n)
			}
			out.SetInt(int64(n))
		default:
			return fmt.Errorf("master sent %T %v, want a number", v, v)
		}
	case reflect.Float64:
		switch n := v.(type) {
		case int64:
			out.SetFloat(float64(n))
		case float64:
			out.SetFloat(n)
		default:
			return fmt.Errorf("master sent %T %v, want a number", v, v)
		}
	case reflect.String:
		out.SetString(fmt.Sprint(v))
	case reflect.Int64: // time.Duration
		switch n := v.(type) {
		case int64:
			if n > math.MaxInt64/int64(time.Second) || n < math.MinInt64/int64(time.Second) {
				return fmt.Errorf("master sent %d seconds, more than a duration holds", n)
			}
			out.SetInt(int64(time.Duration(n) * time.Second))
		case float64:
			d := n * float64(time.Second)
			if math.IsNaN(d) || math.Abs(d) >= math.MaxInt64 {
				return fmt.Errorf("master sent %v seconds, not a duration", n)
			}
			out.SetInt(int64(d))
		default:
			return fmt.Errorf("master sent %T %v, want a duration", v, v)
		}
	}
	return nil
}

// option is what the runtime needs of any Option[T].
type option interface {
	optionName() string
	optionUsage() string
	key() string
	setFromMaster(v any) error
	Set(string) error
	String() string
}

// Options attaches the custom options this class's users read, made with
// [NewOption], [FloatOption], [IntOption], [StringOption] or [BoolOption],
// so that they become flags and are taken from the master. An option
// several classes read is attached to each. It returns c.
func (c *UserClass) Options(opts ...option) *UserClass {
	c.options = append(c.options, opts...)
	return c
}

// classOptions returns the options of classes, each once.
func classOptions(classes []*UserClass) []option {
	seen := map[option]bool{}
	var out []option
	for _, c := range classes {
		for _, o := range c.options {
			if !seen[o] {
				seen[o] = true
				out = append(out, o)
			}
		}
	}
	return out
}

// unclaimedOptions returns, sorted, the keys of a master's parsed_options
// that are custom options of its locustfile no option of custom takes:
// values that reach no user.
func unclaimedOptions(parsed map[string]any, custom []option) []string {
	var keys []string
	for key := range parsed {
		if locustOption(key) || key == maxRPSOption || slices.ContainsFunc(custom, func(o option) bool { return o.key() == key }) {
			continue
		}
		keys = append(keys, key)
	}
	slices.Sort(keys)
	return keys
}

// warnUnclaimedOptions logs a warning for each custom option of a
// master's parsed_options that no class takes, naming it and saying how
// to take it, when due says one is due for its key (once per option, by
// the session's warnOnce).
func warnUnclaimedOptions(logger *slog.Logger, parsed map[string]any, custom []option, due func(key string) bool) {
	for _, key := range unclaimedOptions(parsed, custom) {
		if !due("unclaimed option " + key) {
			continue
		}
		name := strings.ReplaceAll(key, "_", "-")
		logger.Warn("the master's command line has a custom option that no user class takes, so its value reaches no user",
			"option", "--"+name, "value", parsed[key],
			"fix", fmt.Sprintf("declare it in Go, e.g. %s(%q, default, usage), and attach it to the classes that read it with .Options(...)",
				optionConstructor(parsed[key]), name))
	}
}

// optionConstructor names the function that declares an option holding
// v, a value of a master's parsed_options.
func optionConstructor(v any) string {
	switch v.(type) {
	case bool:
		return "worker.BoolOption"
	case int64:
		return "worker.IntOption"
	case float64:
		return "worker.FloatOption"
	case string:
		return "worker.StringOption"
	}
	return "worker.NewOption"
}

// locustOption reports whether key is one of Locust's own options in a
// master's parsed_options (argparse's names, Locust 2.12 to 2.46), not a
// custom option of its locustfile.
func locustOption(key string) bool {
	switch key {
	case "autoquit", "autostart", "build_path", "class_picker", "config", "config_users", "csv_prefix",
		"enable_rebalancing", "equal_weights", "exclude_tags", "exit_code_on_error", "expect_slaves",
		"expect_workers", "expect_workers_max_wait", "hatch_rate", "headful", "headless", "host", "html_file",
		"json", "json_file", "legacy_ui", "list_commands", "locustfile", "logfile", "loglevel", "master",
		"master_bind_host", "master_bind_port", "master_host", "master_port", "modern_ui", "num_users",
		"only_summary", "otel", "print_stats", "processes", "profile", "reset_stats", "run_time",
		"show_task_ratio", "show_task_ratio_json", "skip_log_setup", "slave", "spawn_rate",
		"stats_history_enabled", "step_clients", "step_load", "step_time", "step_users", "stop_timeout", "tags",
		"tls_cert", "tls_key", "user_classes", "users", "web_auth", "web_base_path", "web_host",
		"web_host_display_name", "web_login", "web_port", "worker":
		return true
	}
	return false
}
