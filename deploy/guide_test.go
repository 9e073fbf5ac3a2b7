package deploy

// This file owns reading docs/deploy.md: its shell blocks, the ones marked
// for the test (<!-- deploy_test: NAME --> right before a fence), and the
// command lines in them.

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// guidePath is the deploy guide, relative to this package.
var guidePath = filepath.Join("..", "docs", "deploy.md")

// codeBlock is one fenced block of the guide.
type codeBlock struct {
	lang   string // the fence's info string: sh, yaml, ...
	marker string // the NAME of a <!-- deploy_test: NAME --> line right before it
	line   int    // the line of the opening fence
	text   string // the lines between the fences
}

// guideBlocks returns the fenced blocks of the guide, in order.
func guideBlocks(t *testing.T) []codeBlock {
	t.Helper()
	data, err := os.ReadFile(guidePath)
	if err != nil {
		t.Fatal(err)
	}
	var blocks []codeBlock
	var cur *codeBlock
	marker := ""
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case cur != nil && trimmed == "```":
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			cur.text += line + "\n"
		case strings.HasPrefix(trimmed, "```"):
			cur = &codeBlock{lang: strings.TrimPrefix(trimmed, "```"), marker: marker, line: n}
			marker = ""
		case strings.HasPrefix(trimmed, "<!-- deploy_test:") && strings.HasSuffix(trimmed, "-->"):
			marker = strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(trimmed, "<!-- deploy_test:"), "-->"))
		case trimmed != "":
			marker = ""
		}
	}
	if cur != nil {
		t.Fatalf("%s: the block at line %d is not closed", guidePath, cur.line)
	}
	return blocks
}

// markedBlock returns the guide's block marked name; there must be one.
func markedBlock(t *testing.T, name string) codeBlock {
	t.Helper()
	var found []codeBlock
	for _, b := range guideBlocks(t) {
		if b.marker == name {
			found = append(found, b)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s: %d blocks marked <!-- deploy_test: %s -->, want 1", guidePath, len(found), name)
	}
	return found[0]
}

// guideCommand is one command line of the guide's shell blocks, split into
// words.
type guideCommand struct {
	line  int // the line of its block's fence
	text  string
	words []string
}

func (c guideCommand) String() string { return fmt.Sprintf("%s (block at line %d)", c.text, c.line) }

// guideCommands returns every command of the guide's sh blocks whose words
// start with prefix (e.g. "kubectl", "docker compose").
func guideCommands(t *testing.T, prefix string) []guideCommand {
	t.Helper()
	var cmds []guideCommand
	for _, b := range guideBlocks(t) {
		if b.lang != "sh" {
			continue
		}
		for _, line := range strings.Split(b.text, "\n") {
			if !strings.HasPrefix(line, prefix+" ") {
				continue
			}
			words, err := shellWords(line)
			if err != nil {
				t.Fatalf("%s, block at line %d: %v", guidePath, b.line, err)
			}
			cmds = append(cmds, guideCommand{line: b.line, text: line, words: words})
		}
	}
	return cmds
}

// dockerBuild is the guide's docker build line: the image tag and build
// arguments it gives.
type dockerBuild struct {
	text string
	tag  string
	args map[string]string
}

// guideDockerBuild reads the block marked docker-build: one docker build
// line of the repository's root.
func guideDockerBuild(t *testing.T) dockerBuild {
	t.Helper()
	text := strings.TrimSpace(markedBlock(t, "docker-build").text)
	words, err := shellWords(text)
	if err != nil || strings.Contains(text, "\n") || len(words) < 3 || words[0] != "docker" || words[1] != "build" {
		t.Fatalf("the docker-build block is %q: want one docker build line (%v)", text, err)
	}
	b := dockerBuild{text: text, args: map[string]string{}}
	for i := 2; i+1 < len(words); i++ {
		switch words[i] {
		case "-t", "--tag":
			i++
			b.tag = words[i]
		case "--build-arg":
			i++
			k, v, _ := strings.Cut(words[i], "=")
			b.args[k] = v
		}
	}
	if words[len(words)-1] != "." || b.tag == "" {
		t.Fatalf("docker-build %q: want a -t tag and the context . (the repository's root)", text)
	}
	return b
}

// buildBlock is the guide's block marked build: shell assignments
// (NAME=value lines) and the go build line.
type buildBlock struct {
	text      string
	vars      map[string]string
	buildLine string
}

// guideBuildBlock reads the block marked build: assignments, then one line
// with go build, nothing else.
func guideBuildBlock(t *testing.T) buildBlock {
	t.Helper()
	b := buildBlock{text: markedBlock(t, "build").text, vars: map[string]string{}}
	for _, line := range strings.Split(strings.TrimSpace(b.text), "\n") {
		name, value, isVar := strings.Cut(line, "=")
		switch {
		case strings.Contains(line, "go build"):
			if b.buildLine != "" {
				t.Fatalf("the build block has two go build lines")
			}
			b.buildLine = line
		case isVar && !strings.ContainsAny(name, " \t") && !strings.ContainsAny(value, " \t'\"$"):
			b.vars[name] = value
		default:
			t.Fatalf("the build block's line %q is neither NAME=value nor go build", line)
		}
	}
	if b.buildLine == "" {
		t.Fatal("the build block has no go build line")
	}
	return b
}
