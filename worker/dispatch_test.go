package worker

import (
	"bytes"
	"context"
	"encoding/json"
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

func runLocustDispatcher(t *testing.T, cases []dispatchCase) []dispatchResult {
	t.Helper()
	if _, err := os.Stat(pythonWithLocust); err != nil {
		t.Skipf("no %s with Locust: %v", pythonWithLocust, err)
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
			t.Skipf("Locust's dispatch.py is not importable: %s", stderr.String())
		}
		t.Fatalf("python: %v\n%s", err, stderr.String())
	}
	var res []dispatchResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("decoding %s: %v", out, err)
	}
	return res
}

// TestClassSplitMatchesLocustDispatcher checks, for a table of weights and
// fixed counts, that the standalone runner starts users in the order
// Locust's UsersDispatcher yields them and ends with the same per-class
// counts, computed by the real Locust 2.12.1.
func TestClassSplitMatchesLocustDispatcher(t *testing.T) {
	w := func(name string, weight int) dispatchClass { return dispatchClass{Name: name, Weight: weight} }
	f := func(name string, fixed int) dispatchClass { return dispatchClass{Name: name, Weight: 1, Fixed: fixed} }
	cases := []dispatchCase{
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
	want := runLocustDispatcher(t, cases)
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
			t.Errorf("case %d %+v: start order\n got %v\nLocust %v", i, c, seq, want[i].Sequence)
		}
		if got := classCounts(classes, c.Users); !reflect.DeepEqual(got, want[i].Counts) {
			t.Errorf("case %d %+v: counts %v, Locust %v", i, c, got, want[i].Counts)
		}
	}
}

// noopUser is a user with one task that does nothing.
type noopUser struct{}

func (*noopUser) Tasks() []Task {
	return []Task{{Name: "noop", Run: func(context.Context) error { return nil }}}
}
