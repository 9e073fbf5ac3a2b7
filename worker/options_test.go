package worker

// This file tests custom options: their values from flags and from a
// master, and that an option no class attached cannot go unnoticed.

import (
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golocust/golocust/protocol"
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

// Named types of each kind an option may hold, as users declare them.
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
	_, err := parseArgs([]string{"--ratio", "0.75", "--depth=4", "--fast"}, func(k string) string { return env[k] }, class)
	if err != nil {
		t.Fatal(err)
	}
	if ratio.Value() != 0.75 || depth.Value() != 4 || fast.Value() != true || region.Value() != "us" {
		t.Errorf("ratio %v, depth %v, fast %v, region %v; want 0.75, 4, true, us",
			ratio.Value(), depth.Value(), fast.Value(), region.Value())
	}
	if _, err := parseArgs([]string{"--ratio", "lots"}, func(string) string { return "" }, class); err == nil ||
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

// TestLocustOptionsNotUnclaimed decodes every spawn captured from Locust
// 2.12.1 and 2.46.3 masters, whose locustfiles declare no custom option:
// none of Locust's own options counts as a custom option no class takes,
// and a custom one added to the same spawn does.
func TestLocustOptionsNotUnclaimed(t *testing.T) {
	files, err := filepath.Glob("../protocol/testdata/captures/*/*m2w_spawn.msgpack")
	if err != nil || len(files) < 2 {
		t.Fatalf("captured spawns: %v, %v", files, err)
	}
	more, _ := filepath.Glob("../protocol/testdata/captures/*/*/*m2w_spawn.msgpack")
	for _, name := range append(files, more...) {
		body, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		env, err := protocol.Decode(body)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		parsed := env.Message.(protocol.SpawnMessage).ParsedOptions
		if len(parsed) < 40 {
			t.Fatalf("%s: %d parsed options, want Locust's whole namespace", name, len(parsed))
		}
		if got := unclaimedOptions(parsed, nil); len(got) != 0 {
			t.Errorf("%s: Locust's own options %v taken for custom ones", name, got)
		}
		parsed["login_ratio"] = 0.8
		if got := unclaimedOptions(parsed, nil); !slices.Equal(got, []string{"login_ratio"}) {
			t.Errorf("%s with login_ratio: unclaimed %v, want [login_ratio]", name, got)
		}
	}
}

// TestWarnUnclaimedOptions: of a master's options, only the custom one no
// class attached is named, with how to take it, once however many spawns
// carry it.
func TestWarnUnclaimedOptions(t *testing.T) {
	logs := newLogRecorder()
	logger := slog.New(logs)
	region := StringOption("region", "eu", "")
	custom := classOptions([]*UserClass{Class("A", func() fixedUser { return fixedUser{} }).Options(region)})
	parsed := map[string]any{"host": "http://x", "num_users": int64(10), "tags": nil, "region": "us", "login_ratio": 0.8}
	warned := map[string]bool{}
	due := func(key string) bool { ok := !warned[key]; warned[key] = true; return ok }
	for range 3 {
		warnUnclaimedOptions(logger, parsed, custom, due)
	}
	if n := logs.count("no user class takes"); n != 1 {
		t.Fatalf("%d warnings, want 1 (login_ratio, once):\n%s", n, strings.Join(logs.lines, "\n"))
	}
	if logs.count(`option=--login-ratio`) != 1 || logs.count(`worker.FloatOption("login-ratio"`) != 1 {
		t.Errorf("the warning does not name --login-ratio and how to declare it:\n%s", strings.Join(logs.lines, "\n"))
	}
}

// TestUnattachedOptionFlagRefused: standalone, the flag of an option no
// class attached is an unknown option (exit code 2, naming it), so it
// cannot keep its default silently; attached, the flag sets it.
func TestUnattachedOptionFlagRefused(t *testing.T) {
	loginRatio := FloatOption("login-ratio", 0.3, "share of users that log in")
	unattached := Class("A", func() fixedUser { return fixedUser{} })
	code, stdout, stderr := run(t, []string{"--login-ratio", "0.8", "-t", "100ms"}, unattached)
	if code != ExitUsage || !strings.Contains(stderr, "unknown option --login-ratio") || stdout != "" {
		t.Errorf("unattached --login-ratio: exit code %d, stderr %q; want %d naming the option", code, stderr, ExitUsage)
	}
	attached := Class("A", func() fixedUser { return fixedUser{} }).Options(loginRatio)
	if _, err := parseArgs([]string{"--login-ratio", "0.8"}, func(string) string { return "" }, attached); err != nil || loginRatio.Value() != 0.8 {
		t.Errorf("attached --login-ratio 0.8: %v, value %v", err, loginRatio.Value())
	}
}

// TestUnattachedOptionWarnedAtSpawn is the trap a newcomer fell into: the
// master's locustfile declares --login-ratio and the master runs with
// 0.8, but the Go program declared the option without attaching it to a
// class, so its users would read the default. The worker names the
// option in a warning at the first spawn, once, and takes the attached
// --region as before.
func TestUnattachedOptionWarnedAtSpawn(t *testing.T) {
	logs := newLogRecorder()
	region := StringOption("region", "eu", "")
	m, _ := startSessionWith(t, func(w *Worker) { w.Logger = slog.New(logs) },
		Class("A", func() *idleUser { return &idleUser{} }).Options(region))
	m.expect("client_ready")
	m.send(protocol.AckMessage{})
	parsed := map[string]any{"host": "", "num_users": int64(2), "tags": nil, "region": "us", "login_ratio": 0.8}
	for i := range 2 {
		m.send(protocol.SpawnMessage{Timestamp: time.Unix(int64(100+i), 0), UserClassesCount: map[string]int64{"A": 1}, ParsedOptions: parsed})
		m.expect("spawning_complete")
	}
	if n := logs.count("no user class takes"); n != 1 || logs.count("option=--login-ratio") != 1 {
		t.Errorf("%d warnings of an option no class takes, want 1 naming --login-ratio:\n%s", n, strings.Join(logs.lines, "\n"))
	}
	if region.Value() != "us" {
		t.Errorf("attached --region %q, want the master's us", region.Value())
	}
}
