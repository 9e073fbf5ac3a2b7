//go:build ignore

// genlib copies the chart library's minified files from node_modules
// (installed by `npm ci`, see package.json) into lib/, which the report
// package embeds. `go generate ./report/` runs it after npm ci.
package main

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
)

func main() {
	// Each file of lib/ and its source in node_modules.
	files := map[string]string{
		"uPlot.iife.min.js": "node_modules/uplot/dist/uPlot.iife.min.js",
		"uPlot.min.css":     "node_modules/uplot/dist/uPlot.min.css",
	}
	for dst, src := range files {
		if err := copyFile(filepath.Join("lib", dst), src); err != nil {
			slog.Error("genlib: copying the chart library", "err", err)
			os.Exit(1)
		}
	}
}

func copyFile(dst, src string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("%w (run npm ci in report/ first)", err)
	}
	return os.WriteFile(dst, data, 0o644)
}
