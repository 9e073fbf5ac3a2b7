package protocol

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

var nodeIDPattern = regexp.MustCompile(`^[^_]+_[0-9a-f]{32}$`)

func TestNewNodeID(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		id := NewNodeID()
		if !nodeIDPattern.MatchString(id) {
			t.Fatalf("NewNodeID() = %q, want <host>_<32 hex>", id)
		}
		if err := validateNodeID(id); err != nil {
			t.Fatalf("NewNodeID() = %q: %v", id, err)
		}
		if seen[id] {
			t.Fatalf("NewNodeID() repeated %q", id)
		}
		seen[id] = true
	}
}

func TestSanitizeHost(t *testing.T) {
	tests := []struct{ in, want string }{
		{"vm", "vm"},
		{"build_host_1", "build-host-1"},
		{"", "localhost"},
		{"a b\tc\x00d", "a-b-c-d"},
		{"caf\xe9", "caf-"},
		{"hôte", "hôte"},
		{strings.Repeat("h", 300), strings.Repeat("h", maxHostPart)},
		{strings.Repeat("é", 200), strings.Repeat("é", maxHostPart/2)},
	}
	for _, tt := range tests {
		got := sanitizeHost(tt.in)
		if got != tt.want {
			t.Errorf("sanitizeHost(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if !utf8.ValidString(got) || strings.Contains(got, "_") || len(got)+33 > MaxNodeIDLen {
			t.Errorf("sanitizeHost(%q) = %q breaks the node id rules", tt.in, got)
		}
	}
}
