package worker

import (
	"math"
	"strings"
	"testing"
	"time"
)

// TestShapeStep: one tick moves at most the spawn rate's users, spread
// over the time the rate gives them; rate 0 moves at once.
func TestShapeStep(t *testing.T) {
	for _, tc := range []struct {
		current int
		tick    ShapeTick
		owed    float64
		users   int
		over    time.Duration
		carry   float64
	}{
		{0, ShapeTick{Users: 50, SpawnRate: 10}, 0, 10, time.Second, 0},
		{45, ShapeTick{Users: 50, SpawnRate: 10}, 0, 50, 500 * time.Millisecond, 0},
		{50, ShapeTick{Users: 0, SpawnRate: 10}, 0, 40, time.Second, 0},
		{50, ShapeTick{Users: 50, SpawnRate: 10}, 0, 50, 0, 0},
		{0, ShapeTick{Users: 500}, 0, 500, 0, 0},
		{0, ShapeTick{Users: 500, SpawnRate: math.Inf(1)}, 0, 500, 0, 0},
		{0, ShapeTick{Users: 5, SpawnRate: 0.5}, 0, 0, 0, 0.5}, // half a user owed
		{0, ShapeTick{Users: 5, SpawnRate: 0.5}, 0.5, 1, time.Second, 0},
		{0, ShapeTick{Users: 10, SpawnRate: 2.5}, 0.5, 3, time.Second, 0},
		{3, ShapeTick{Users: -4, SpawnRate: 100}, 0, 0, 30 * time.Millisecond, 0},
	} {
		users, over, carry := shapeStep(tc.current, tc.tick, time.Second, tc.owed)
		if users != tc.users || over != tc.over || math.Abs(carry-tc.carry) > 1e-9 {
			t.Errorf("shapeStep(%d, %+v, owed %v) = %d over %v owing %v, want %d over %v owing %v",
				tc.current, tc.tick, tc.owed, users, over, carry, tc.users, tc.over, tc.carry)
		}
	}
}

// TestStagesValue: the target interpolated along the stages.
func TestStagesValue(t *testing.T) {
	st, err := ParseStages("10s:100, 10s:100, 0s:40, 5s:0")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		at   time.Duration
		want float64
		ok   bool
	}{
		{0, 0, true}, {5 * time.Second, 50, true}, {15 * time.Second, 100, true},
		{20 * time.Second, 40, true}, // the 0 s stage sets where the last starts
		{22500 * time.Millisecond, 20, true},
		{25 * time.Second, 0, false},
	} {
		got, ok := st.value(tc.at)
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("value(%v) = %v, %v; want %v, %v", tc.at, got, ok, tc.want, tc.ok)
		}
	}
}

// FuzzParseStages: any text is stages or an error, never a panic; stages
// parsed last some time, are not negative, and read back the same.
func FuzzParseStages(f *testing.F) {
	for _, s := range []string{"5s:50,5s:50,5s:0", "1m:10", "0s:5,1s:5", "90:1.5", "5s", ":", "1h:1e308", "-1s:3", ",,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		st, err := ParseStages(s)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error of more than one line: %q", err)
			}
			return
		}
		if st.total() <= 0 {
			t.Errorf("%q: stages of no time accepted", s)
		}
		for _, g := range st {
			if g.Duration < 0 || g.Target < 0 {
				t.Errorf("%q: negative stage %+v", s, g)
			}
		}
		again, err := ParseStages(stagesValue{&st}.String())
		if err != nil || len(again) != len(st) {
			t.Errorf("%q: reads back as %v, %v", s, again, err)
		}
	})
}
