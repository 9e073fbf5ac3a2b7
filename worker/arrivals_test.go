package worker

import (
	"testing"
	"time"
)

var arrivalsT0 = time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)

func at(ms int) time.Time { return arrivalsT0.Add(time.Duration(ms) * time.Millisecond) }

// TestArrivalScheduleTakesInOrder: at 10/s, iteration n is due at n*100 ms
// and users take the oldest due first.
func TestArrivalScheduleTakesInOrder(t *testing.T) {
	s := newArrivalSchedule(at(0), 10, time.Second)
	steps := []struct {
		now      int
		wantDue  int // ms; -1: none
		waitingB int64
	}{
		{0, 0, 0},     // the first is due at the start
		{50, -1, 0},   // the second not yet
		{250, 100, 1}, // 100 and 200 due; take 100, 200 waits
		{250, 200, 0},
		{250, -1, 0},
		{300, 300, 0},
	}
	for i, st := range steps {
		due, ok := s.take(at(st.now))
		switch {
		case st.wantDue < 0 && ok:
			t.Errorf("step %d: took %v, want none", i, due.Sub(arrivalsT0))
		case st.wantDue >= 0 && (!ok || !due.Equal(at(st.wantDue))):
			t.Errorf("step %d: took %v (ok %v), want %d ms", i, due.Sub(arrivalsT0), ok, st.wantDue)
		}
		if got := s.waiting(at(st.now)); got != st.waitingB {
			t.Errorf("step %d: %d waiting, want %d", i, got, st.waitingB)
		}
	}
	if s.dropped != 0 {
		t.Errorf("dropped %d, want 0", s.dropped)
	}
}

// TestArrivalScheduleDropsLateIterations: an iteration that waited more
// than maxWait for a user is dropped and counted; the end drops the rest.
func TestArrivalScheduleDropsLateIterations(t *testing.T) {
	s := newArrivalSchedule(at(0), 100, time.Second) // every 10 ms
	// Nobody takes anything for 3 s: 301 are due, those before 2 s late.
	if got := s.waiting(at(3000)); got != 100 {
		t.Errorf("waiting at 3 s = %d, want 100 (due after 2 s)", got)
	}
	if s.dropped != 201 {
		t.Errorf("dropped = %d, want 201 (0 ms to 2000 ms)", s.dropped)
	}
	due, ok := s.take(at(3000))
	if !ok || !due.Equal(at(2010)) {
		t.Errorf("took %v, want the one due at 2010 ms", due.Sub(arrivalsT0))
	}
	s.end(at(3000), true)
	if s.dropped != 201+99 {
		t.Errorf("after end: dropped = %d, want 300", s.dropped)
	}
	if _, ok := s.take(at(3000)); ok {
		t.Error("took an iteration after the end")
	}
	if s.next != s.dueBy(at(3000)) || s.dropped+1 != s.next {
		t.Errorf("started 1 + dropped %d != due %d", s.dropped, s.next)
	}

	// With users free at the end, the iterations due in its last instant
	// were not starved: they are not dropped.
	s = newArrivalSchedule(at(0), 100, time.Second)
	s.waiting(at(1500)) // 0..500 ms late
	s.end(at(1500), false)
	if s.dropped != 51 || s.next != 151 {
		t.Errorf("end with free users: dropped %d (want 51, the late ones), next %d (want 151)", s.dropped, s.next)
	}
}

// TestArrivalScheduleRateChanges: iterations due before a change keep
// their times; the part of the next one accumulated carries over to the
// new rate; rate 0 stops arrivals.
func TestArrivalScheduleRateChanges(t *testing.T) {
	s := newArrivalSchedule(at(0), 10, 10*time.Second)
	// By 250 ms: 0, 100 and 200 due, and half of the next; at 20/s the
	// other half takes 25 ms.
	s.setRate(at(250), 20)
	wantDue := []int{0, 100, 200, 275, 325, 375}
	for _, w := range wantDue {
		due, ok := s.take(at(1000))
		if !ok || !due.Equal(at(w)) {
			t.Fatalf("took %v (ok %v), want %d ms", due.Sub(arrivalsT0), ok, w)
		}
	}
	if next, ok := s.nextDue(at(1000)); !ok || !next.Equal(at(1025)) {
		t.Errorf("next due %v, want 1025 ms", next.Sub(arrivalsT0))
	}
	s.setRate(at(1000), 0)
	if _, ok := s.nextDue(at(5000)); ok {
		t.Error("rate 0 has a next arrival")
	}
	// Due by 1 s: 3 at 10/s, then 275..975 ms at 20/s = 15; 6 taken.
	if got := s.waiting(at(5000)); got != 12 {
		t.Errorf("waiting = %d, want 12", got)
	}
	// Half an arrival was accumulated at 1 s (0.5 + 0.75 s × 20 = 15.5):
	// at 1/s from 6 s the next is due at 6.5 s.
	s.setRate(at(6000), 1)
	if due, _ := s.nextDue(at(6000)); !due.Equal(at(6500)) {
		t.Errorf("restart due %v, want 6500 ms", due.Sub(arrivalsT0))
	}
	if got := s.dueBy(at(8600)) - s.dueBy(at(5000)); got != 3 {
		t.Errorf("arrivals due from 6 s to 8.6 s at 1/s = %d, want 3", got)
	}
	if len(s.segments) > 3 {
		t.Errorf("%d segments kept", len(s.segments))
	}
}

// TestArrivalScheduleSlowRamp: a rate that changes every second along a
// ramp from 0 to 0.1/s over 10 minutes yields the ramp's integral, 30
// iterations, not one a change.
func TestArrivalScheduleSlowRamp(t *testing.T) {
	s := newArrivalSchedule(at(0), 0, time.Hour)
	for sec := 0; sec < 600; sec++ {
		s.setRate(at(sec*1000), 0.1*float64(sec)/600)
	}
	if got := s.dueBy(at(600_000)); got < 29 || got > 31 {
		t.Errorf("%d iterations due over the ramp, want 30", got)
	}
}

// TestArrivalScheduleCountsEveryIteration: over a long run with changes,
// every due iteration is either started or dropped, exactly once.
func TestArrivalScheduleCountsEveryIteration(t *testing.T) {
	s := newArrivalSchedule(at(0), 1000, 500*time.Millisecond)
	var started int64
	for ms := 0; ms <= 20000; ms += 7 {
		if ms%3000 == 0 {
			s.setRate(at(ms), float64(500+ms/10))
		}
		for k := 0; k < (ms/100)%9; k++ { // users free in bursts
			if _, ok := s.take(at(ms)); ok {
				started++
			}
		}
	}
	s.end(at(20000), true)
	if started+s.dropped != s.next || s.next != s.dueBy(at(20000)) {
		t.Errorf("started %d + dropped %d != due %d (next %d)", started, s.dropped, s.dueBy(at(20000)), s.next)
	}
	if started == 0 || s.dropped == 0 {
		t.Errorf("started %d, dropped %d: the test should do both", started, s.dropped)
	}
}
