package worker

// This file owns the check that users start in the order, and end in the
// per-class counts, of Locust's own dispatcher: live against the installed
// Locust, and always against its answers saved in testdata/.

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"reflect"
	"testing"
)

// pythonWithLocust is the interpreter that has Debian's Locust 2.12.1.
const pythonWithLocust = "/usr/bin/python3"

// locustDispatchScript runs Locust's own UsersDispatcher for each case on
// stdin: the order _user_gen yields users in (through _distribute_users)
// and the final per-class counts of a one-step dispatch. locust/__init__.py
// is skipped (it monkey-patches gevent and fails to import pkg_resources on
// Debian bookworm); dispatch.py needs only locust.User, as a base class for
// type hints, and the roundrobin package.
const locustDispatchScript = `
import sys, types, json
_pkg = types.ModuleType("locust")
_pkg.__path__ = ["/usr/lib/python3/dist-packages/locust"]
class User: pass
_pkg.User = User
sys.modules["locust"] = _pkg
import locust.dispatch as d
class Node:
    def __init__(self, id): self.id = id
out = []
for case in json.load(sys.stdin):
    classes = [type(c["name"], (User,), {"weight": c["weight"], "fixed_count": c["fixed"]}) for c in case["classes"]]
    disp = d.UsersDispatcher(worker_nodes=[Node("local")], user_classes=classes)
    _, _, _, active = disp._distribute_users(case["users"])
    seq = [u for _, u in active]
    disp = d.UsersDispatcher(worker_nodes=[Node("local")], user_classes=classes)
    disp.new_dispatch(target_user_count=case["users"], spawn_rate=max(case["users"], 1))
    final = None
    for x in disp:
        final = x
    out.append({"sequence": seq, "counts": final["local"]})
json.dump(out, sys.stdout)
`

type dispatchClass struct {
	Name   string `json:"name"`
	Weight int    `json:"weight"`
	Fixed  int    `json:"fixed"`
}

type dispatchCase struct {
	Users   int             `json:"users"`
	Classes []dispatchClass `json:"classes"`
}

type dispatchResult struct {
	Sequence []string         `json:"sequence"`
	Counts   map[string]int64 `json:"counts"`
}

// updateDispatch rewrites the saved Locust outputs from the live Locust
// (go test ./worker/ -run TestClassSplitMatchesLocustDispatcher -update).
var updateDispatch = flag.Bool("update", false, "rewrite "+dispatchGolden+" from the installed Locust")

// dispatchGolden holds the real Locust's answers for dispatchCases, so
// that the start order is checked where Locust is not installed.
const dispatchGolden = "testdata/dispatch_locust_2.12.1.json"

// dispatchSource says in the golden file where its answers came from.
const dispatchSource = "Locust 2.12.1 (Debian python3-locust 2.12.1-1), locust.dispatch.UsersDispatcher; " +
	"regenerate with: go test ./worker/ -run TestClassSplitMatchesLocustDispatcher -update"

// dispatchExpectation is one case of the golden file with Locust's answer.
type dispatchExpectation struct {
	dispatchCase
	dispatchResult
}

// dispatchGoldenFile is the layout of dispatchGolden.
type dispatchGoldenFile struct {
	Source string                `json:"source"`
	Cases  []dispatchExpectation `json:"cases"`
}

// dispatchCases are weights and fixed counts to compare with Locust's
// dispatcher.
func dispatchCases() []dispatchCase {
	w := func(name string, weight int) dispatchClass { return dispatchClass{Name: name, Weight: weight} }
	f := func(name string, fixed int) dispatchClass { return dispatchClass{Name: name, Weight: 1, Fixed: fixed} }
	return []dispatchCase{
		{1, []dispatchClass{w("A", 1)}},
		{10, []dispatchClass{w("A", 1)}},
		{7, []dispatchClass{w("WebUser", 3), w("APIUser", 1)}},
		{20, []dispatchClass{w("Visitor", 3), w("Buyer", 1)}},
		{1, []dispatchClass{w("B", 1), w("A", 1)}},
		{3, []dispatchClass{w("B", 1), w("A", 1)}},
		{10, []dispatchClass{w("A", 2), w("B", 5), w("C", 6)}},
		{13, []dispatchClass{w("A", 2), w("B", 5), w("C", 6)}},
		{100, []dispatchClass{w("A", 2), w("B", 5), w("C", 6)}},
		{11, []dispatchClass{w("A", 5), w("B", 1)}},
		{9, []dispatchClass{w("X", 3), w("Y", 3), w("Z", 3)}},
		{17, []dispatchClass{w("Slow", 1), w("Fast", 100)}},
		{50, []dispatchClass{w("A", 7), w("B", 11), w("C", 13), w("D", 2)}},
		{5, []dispatchClass{f("Admin", 2), w("User", 3)}},
		{1, []dispatchClass{f("Admin", 2), w("User", 3)}},
		{2, []dispatchClass{f("Admin", 2), w("User", 3)}},
		{30, []dispatchClass{f("Admin", 1), f("Auditor", 3), w("User", 3), w("Guest", 1)}},
		{3, []dispatchClass{f("A", 2), f("B", 3)}},
		{5, []dispatchClass{f("A", 2), f("B", 3)}},
		{8, []dispatchClass{f("A", 2), f("B", 3)}},
		{12, []dispatchClass{f("A", 4), f("B", 1), w("C", 1)}},
		{25, []dispatchClass{f("Zeta", 5), w("Alpha", 2), w("Mid", 3)}},
	}
}

// runLocustDispatcher returns the installed Locust's answers for cases,
// and false when Locust is not installed or its dispatcher cannot be
// imported.
func runLocustDispatcher(t *testing.T, cases []dispatchCase) ([]dispatchResult, bool) {
	t.Helper()
	if _, err := os.Stat(pythonWithLocust); err != nil {
		t.Logf("no %s with Locust: %v", pythonWithLocust, err)
		return nil, false
	}
	in, err := json.Marshal(cases)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(pythonWithLocust, "-c", locustDispatchScript)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if bytes.Contains(stderr.Bytes(), []byte("ModuleNotFoundError")) {
			t.Logf("Locust's dispatch.py is not importable: %s", stderr.String())
			return nil, false
		}
		t.Fatalf("python: %v\n%s", err, stderr.String())
	}
	var res []dispatchResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("decoding %s: %v", out, err)
	}
	if len(res) != len(cases) {
		t.Fatalf("Locust answered %d cases of %d", len(res), len(cases))
	}
	return res, true
}

// readDispatchGolden returns the saved Locust answers for cases. It fails
// the test when the file's cases are not cases: the table changed and the
// file must be regenerated where Locust is installed.
func readDispatchGolden(t *testing.T, cases []dispatchCase) []dispatchResult {
	t.Helper()
	data, err := os.ReadFile(dispatchGolden)
	if err != nil {
		t.Fatalf("%v (regenerate it with -update where Locust is installed)", err)
	}
	var file dispatchGoldenFile
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatalf("%s: %v", dispatchGolden, err)
	}
	saved := make([]dispatchCase, len(file.Cases))
	want := make([]dispatchResult, len(file.Cases))
	for i, c := range file.Cases {
		saved[i], want[i] = c.dispatchCase, c.dispatchResult
	}
	if !reflect.DeepEqual(saved, cases) {
		t.Fatalf("%s holds other cases than dispatchCases; regenerate it with -update where Locust is installed", dispatchGolden)
	}
	return want
}

// writeDispatchGolden saves Locust's answers for cases.
func writeDispatchGolden(t *testing.T, cases []dispatchCase, res []dispatchResult) {
	t.Helper()
	file := dispatchGoldenFile{Source: dispatchSource, Cases: make([]dispatchExpectation, len(cases))}
	for i := range cases {
		file.Cases[i] = dispatchExpectation{cases[i], res[i]}
	}
	data, err := json.MarshalIndent(file, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dispatchGolden, append(data, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

// checkClassSplit checks that the runner starts the users of each case in
// the order of want and ends with want's per-class counts.
func checkClassSplit(t *testing.T, cases []dispatchCase, want []dispatchResult, source string) {
	t.Helper()
	for i, c := range cases {
		var classes []*UserClass
		for _, dc := range c.Classes {
			classes = append(classes, Class(dc.Name, func() *noopUser { return &noopUser{} }).Weight(dc.Weight).FixedCount(dc.Fixed))
		}
		next := userSequence(classes)
		var seq []string
		for range c.Users {
			uc := next()
			if uc == nil {
				break
			}
			seq = append(seq, uc.name)
		}
		if !reflect.DeepEqual(seq, want[i].Sequence) {
			t.Errorf("case %d %+v: start order\n got %v\n%s %v", i, c, seq, source, want[i].Sequence)
		}
		if got := classCounts(classes, c.Users); !reflect.DeepEqual(got, want[i].Counts) {
			t.Errorf("case %d %+v: counts %v, %s %v", i, c, got, source, want[i].Counts)
		}
	}
}

// TestClassSplitMatchesLocustDispatcher checks, for a table of weights and
// fixed counts, that the standalone runner starts users in the order
// Locust's UsersDispatcher yields them and ends with the same per-class
// counts, computed by the real Locust 2.12.1. It also checks that the
// saved answers (dispatchGolden) are still the real Locust's, and rewrites
// them with -update. Without Locust it is skipped:
// TestClassSplitMatchesSavedLocustOutputs covers the same table.
func TestClassSplitMatchesLocustDispatcher(t *testing.T) {
	cases := dispatchCases()
	want, ok := runLocustDispatcher(t, cases)
	if !ok {
		t.Skip("Locust is not installed; TestClassSplitMatchesSavedLocustOutputs compares with its saved outputs")
	}
	if *updateDispatch {
		writeDispatchGolden(t, cases, want)
	}
	checkClassSplit(t, cases, want, "Locust")
	if saved := readDispatchGolden(t, cases); !reflect.DeepEqual(saved, want) {
		t.Errorf("%s differs from the installed Locust's answers; check the Locust version, then regenerate it with -update", dispatchGolden)
	}
}

// TestClassSplitMatchesSavedLocustOutputs checks the table of
// TestClassSplitMatchesLocustDispatcher against Locust 2.12.1's answers
// saved in dispatchGolden, so that the start order is enforced where
// Locust is not installed.
func TestClassSplitMatchesSavedLocustOutputs(t *testing.T) {
	cases := dispatchCases()
	checkClassSplit(t, cases, readDispatchGolden(t, cases), "saved Locust")
}

// noopUser is a user with one task that does nothing.
type noopUser struct{}

func (*noopUser) Tasks() []Task {
	return []Task{{Name: "noop", Run: func(context.Context) error { return nil }}}
}
