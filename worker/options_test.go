package worker

import (
	"math"
	"strings"
	"testing"
	"time"
)

// TestOptionFromMaster checks the values a master's parsed_options can
// hold for each option type, the web form's strings included.
func TestOptionFromMaster(t *testing.T) {
	tests := []struct {
		name    string
		opt     option
		value   any
		want    string
		wantErr bool
	}{
		{"float from float", FloatOption("login-ratio", 0.3, ""), 0.5, "0.5", false},
		{"float from int", FloatOption("login-ratio", 0.3, ""), int64(1), "1", false},
		{"float from web form", FloatOption("login-ratio", 0.3, ""), "0.8", "0.8", false},
		{"float from bad text", FloatOption("login-ratio", 0.3, ""), "lots", "0.3", true},
		{"float from bool", FloatOption("login-ratio", 0.3, ""), true, "0.3", true},
		{"int from int", IntOption("depth", 1, ""), int64(7), "7", false},
		{"int from web form", IntOption("depth", 1, ""), "9", "9", false},
		{"bool from bool", BoolOption("fast", false, ""), true, "true", false},
		{"bool from web form", BoolOption("fast", false, ""), "true", "true", false},
		{"string", StringOption("region", "eu", ""), "us", "us", false},
		{"duration from seconds", NewOption("think", time.Second, ""), int64(3), "3s", false},
		{"duration from text", NewOption("think", time.Second, ""), "1m30s", "1m30s", false},
		{"nil keeps default", FloatOption("login-ratio", 0.3, ""), nil, "0.3", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.opt.setFromMaster(tt.value)
			if (err != nil) != tt.wantErr {
				t.Errorf("error %v, want error %v", err, tt.wantErr)
			}
			if got := tt.opt.String(); got != tt.want {
				t.Errorf("value %s, want %s", got, tt.want)
			}
		})
	}
	if k := FloatOption("login-ratio", 0, "").key(); k != "login_ratio" {
		t.Errorf("key %q, want login_ratio as argparse names it", k)
	}
}

// Named types of each kind OptionValue allows, as users declare them.
type (
	testRatio  float64
	testDepth  int
	testFast   bool
	testRegion string
)

// TestNamedTypeOptionFromMaster sets options of named types from a
// master's parsed_options values: they used to panic on conversion.
func TestNamedTypeOptionFromMaster(t *testing.T) {
	ratio := NewOption("ratio", testRatio(0.3), "")
	depth := NewOption("depth", testDepth(1), "")
	fast := NewOption("fast", testFast(false), "")
	region := NewOption("region", testRegion("eu"), "")
	tests := []struct {
		opt   option
		value any
		check func() bool
	}{
		{ratio, 0.5, func() bool { return ratio.Value() == 0.5 }},
		{ratio, int64(2), func() bool { return ratio.Value() == 2 }},
		{ratio, "0.8", func() bool { return ratio.Value() == 0.8 }},
		{depth, int64(7), func() bool { return depth.Value() == 7 }},
		{depth, 3.0, func() bool { return depth.Value() == 3 }},
		{depth, "9", func() bool { return depth.Value() == 9 }},
		{fast, true, func() bool { return fast.Value() == true }},
		{fast, "false", func() bool { return fast.Value() == false }},
		{region, "us", func() bool { return region.Value() == "us" }},
		{region, int64(5), func() bool { return region.Value() == "5" }},
	}
	for _, tt := range tests {
		if err := tt.opt.setFromMaster(tt.value); err != nil {
			t.Errorf("%s from %T %v: %v", tt.opt.optionName(), tt.value, tt.value, err)
			continue
		}
		if !tt.check() {
			t.Errorf("%s from %T %v: value %s", tt.opt.optionName(), tt.value, tt.value, tt.opt.String())
		}
	}
	if err := ratio.setFromMaster(true); err == nil {
		t.Errorf("ratio from a bool: no error, value %v", ratio.Value())
	}
	if err := fast.setFromMaster(int64(1)); err == nil {
		t.Errorf("fast from an int: no error, value %v", fast.Value())
	}
}

// TestNamedTypeOptionFlags parses named-type options from the command
// line and the environment: they used to panic while parsing flags, and a
// named bool was not a stand-alone flag.
func TestNamedTypeOptionFlags(t *testing.T) {
	ratio := NewOption("ratio", testRatio(0.3), "")
	depth := NewOption("depth", testDepth(1), "")
	fast := NewOption("fast", testFast(false), "")
	region := NewOption("region", testRegion("eu"), "")
	class := Class("A", func() fixedUser { return fixedUser{} }).Options(ratio, depth, fast, region)
	env := map[string]string{"LOCUST_REGION": "us"}
	_, err := ParseArgs([]string{"--ratio", "0.75", "--depth=4", "--fast"}, func(k string) string { return env[k] }, class)
	if err != nil {
		t.Fatal(err)
	}
	if ratio.Value() != 0.75 || depth.Value() != 4 || fast.Value() != true || region.Value() != "us" {
		t.Errorf("ratio %v, depth %v, fast %v, region %v; want 0.75, 4, true, us",
			ratio.Value(), depth.Value(), fast.Value(), region.Value())
	}
	if _, err := ParseArgs([]string{"--ratio", "lots"}, func(string) string { return "" }, class); err == nil ||
		!strings.Contains(err.Error(), "ratio") {
		t.Errorf("--ratio lots: error %v, want one naming the option", err)
	}
}

// TestMasterValueRefusesLossyNumbers: a value from the master that an
// option cannot hold is an error (logged, the option keeps its value),
// never a silent truncation.
func TestMasterValueRefusesLossyNumbers(t *testing.T) {
	for _, tc := range []struct {
		opt interface{ setFromMaster(any) error }
		v   any
	}{
		{IntOption("n", 1, ""), 2.5},
		{IntOption("n", 1, ""), math.NaN()},
		{IntOption("n", 1, ""), 1e300},
		{NewOption("d", time.Second, ""), math.Inf(1)},
		{NewOption("d", time.Second, ""), int64(math.MaxInt64 / 10)},
	} {
		if err := tc.opt.setFromMaster(tc.v); err == nil {
			t.Errorf("setFromMaster(%v) on %T: no error", tc.v, tc.opt)
		}
	}
	n := IntOption("n", 1, "")
	if err := n.setFromMaster(4.0); err != nil || n.Value() != 4 {
		t.Errorf("setFromMaster(4.0): %v, value %d; want 4", err, n.Value())
	}
}
