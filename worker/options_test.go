package worker

import (
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
