package worker

// This file tests the range of -r/--spawn-rate from every source
// (command line, LOCUST_SPAWN_RATE, locust.conf, TOML) and that a long
// bad value on the command line or in a variable is quoted cut short, on
// one line.

import (
	"fmt"
	"strings"
	"testing"
)

// TestFlagSpawnRateRange: NaN, infinities, negative rates and rates
// outside minSpawnRate-maxSpawnRate (1e-9 and 1e-10 overflowed the
// interval and started every user at once) are exit 2 with one line;
// 0 (every user at once), the bounds and rates between them are taken,
// and a worker, which takes its pace from the master, does not check -r.
func TestFlagSpawnRateRange(t *testing.T) {
	for _, bad := range []string{"nan", "NaN", "inf", "+Inf", "-inf", "infinity", "-1", "1e-7", "1e-9", "1e-10", "4.9e-324", "1.000001e9", "1e300"} {
		t.Run("bad "+bad, func(t *testing.T) {
			code, stderr, users := runLimited(t, []string{"-r", bad}, nil, nil)
			checkOneErrorLine(t, code, stderr, users, "-r/--spawn-rate ", ": want 0 (all at once) or from 1e-06 to 1e+09 users a second")
		})
	}
	if _, err := parseArgs([]string{"--worker", "-r", "nan"}, func(string) string { return "" }); err != nil {
		t.Errorf("--worker -r nan: %v; want -r left to the master", err)
	}
	for _, good := range []float64{0, 1e-6, 0.001, 1, 2.5, 1e9} {
		text := fmt.Sprint(good)
		cfg, err := parseArgs([]string{"-r", text}, func(string) string { return "" })
		if err != nil || cfg.SpawnRate != good {
			t.Errorf("-r %s: rate %v, err %v; want it taken", text, cfg.SpawnRate, err)
		}
	}
	if cfg, err := parseArgs(nil, func(string) string { return "" }); err != nil || cfg.SpawnRate != 1 {
		t.Errorf("no -r: rate %v, err %v; want Locust's default 1", cfg.SpawnRate, err)
	}
}

// TestConfigSpawnRateRange: a bad rate from LOCUST_SPAWN_RATE, a
// locust.conf or a TOML file (whose nan and inf are numbers) is refused
// as on the command line.
func TestConfigSpawnRateRange(t *testing.T) {
	cases := []struct {
		name, file, text string
		env              map[string]string
	}{
		{"variable NaN", "", "", map[string]string{"LOCUST_SPAWN_RATE": "NaN"}},
		{"variable tiny", "", "", map[string]string{"LOCUST_SPAWN_RATE": "1e-10"}},
		{"locust.conf nan", "locust.conf", "spawn-rate = nan\n", nil},
		{"locust.conf -1", "locust.conf", "spawn-rate = -1\n", nil},
		{"TOML nan", "pyproject.toml", "[tool.locust]\nspawn-rate = nan\n", nil},
		{"TOML inf", "pyproject.toml", "[tool.locust]\nspawn-rate = inf\n", nil},
		{"TOML -inf", "pyproject.toml", "[tool.locust]\nspawn-rate = -inf\n", nil},
		{"TOML tiny", "pyproject.toml", "[tool.locust]\nspawn-rate = 1e-9\n", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var args []string
			if c.file != "" {
				args = []string{"--config", writeConfig(t, t.TempDir(), c.file, c.text)}
			}
			code, stderr, users := runLimited(t, args, c.env, nil)
			checkOneErrorLine(t, code, stderr, users, "-r/--spawn-rate ", ": want 0 (all at once)")
		})
	}
	path := writeConfig(t, t.TempDir(), "pyproject.toml", "[tool.locust]\nspawn-rate = 1e-6\n")
	if cfg, err := parseArgs([]string{"--config", path}, func(string) string { return "" }); err != nil || cfg.SpawnRate != 1e-6 {
		t.Errorf("TOML spawn-rate = 1e-6: rate %v, err %v; want it taken", cfg.SpawnRate, err)
	}
}

// TestFlagErrorsClipped: a long bad value on the command line or in a
// variable is quoted cut to maxQuoted bytes, and the error is one line;
// so is an argument that is no option, and a value with a line break.
func TestFlagErrorsClipped(t *testing.T) {
	long := strings.Repeat("9x", 60_000)
	clipped := `"` + long[:maxQuoted] + `…"`
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want []string
	}{
		{"-u", []string{"-u", long}, nil, []string{"invalid value " + clipped + " for -u: " + clipped + " is not a whole number"}},
		{"--spawn-rate", []string{"--spawn-rate", long}, nil, []string{"invalid value " + clipped + " for --spawn-rate: " + clipped + " is not a number"}},
		{"--run-time", []string{"--run-time", long}, nil, []string{"for --run-time: " + clipped + " is not a duration"}},
		{"--json", []string{"--json=" + long}, nil, []string{"invalid value " + clipped + " for --json: " + clipped + " is not true or false"}},
		{"-H", []string{"-H", long}, nil, []string{"-H/--host " + clipped + " is not a URL"}},
		{"an argument", []string{long}, nil, []string{"unexpected argument " + clipped}},
		{"LOCUST_USERS", nil, map[string]string{"LOCUST_USERS": long}, []string{"LOCUST_USERS=" + clipped + ": " + clipped + " is not a whole number"}},
		{"a line break", []string{"-u", "1\n2"}, nil, []string{`invalid value "1\n2" for -u`}},
		{"an unknown option", []string{"--" + long}, nil, []string{"unknown option --9x9x", " … "}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, stderr, users := runLimited(t, c.args, c.env, nil)
			checkOneErrorLine(t, code, stderr, users, c.want...)
		})
	}
}

// TestOptionSetClipsValue: a custom option's bad value is quoted cut
// short.
func TestOptionSetClipsValue(t *testing.T) {
	o := IntOption("depth", 1, "how deep")
	err := o.Set(strings.Repeat("z", 10_000))
	want := `option --depth: "` + strings.Repeat("z", maxQuoted) + `…" is not a int`
	if err == nil || err.Error() != want {
		t.Errorf("Set: %v; want %s", err, want)
	}
}
