package worker

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// OptionValue is the set of types a custom option can hold.
type OptionValue interface {
	~bool | ~int | ~float64 | ~string | time.Duration
}

// Option is a custom option that user code declares and reads, like an
// argument added in Locust's init_command_line_parser. In standalone mode
// its value comes from the --NAME flag (or the LOCUST_NAME environment
// variable); in worker mode from the master's command line, which must
// declare the same option. Attach it to the classes that read it with
// [UserClass.Options]. Value is safe to call from any goroutine.
type Option[T OptionValue] struct {
	name, usage string
	def         T
	value       atomic.Pointer[T]
}

// NewOption declares an option called name (as on the command line, e.g.
// "login-ratio") with a default value and a one-line usage text.
func NewOption[T OptionValue](name string, def T, usage string) *Option[T] {
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
	case reflect.Int64: // time.Duration, the only int64 type OptionValue allows
		var d time.Duration
		d, err = parseRunTime(s)
		e.SetInt(int64(d))
	}
	if err != nil {
		return fmt.Errorf("option --%s: %q is not a %T", o.name, s, o.def)
	}
	o.value.Store(&v)
	return nil
}

// optionKind returns the kind of T: OptionValue allows named types (type
// Ratio float64), so T is told by its kind, never by a type switch.
func optionKind[T OptionValue]() reflect.Kind {
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

// masterValue sets out, an option's value of one of OptionValue's kinds,
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

// Options declares the custom options this class's users read, so that
// they become flags and are taken from the master. It returns c.
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
