package stats

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func BenchmarkRecord(b *testing.B) {
	benches := []struct {
		name string
		s    Sample
	}{
		{"at set", Sample{Method: "GET", Name: "/api/items", Duration: 42 * time.Millisecond, Size: 1024, At: t0}},
		{"at zero", Sample{Method: "GET", Name: "/api/items", Duration: 42 * time.Millisecond, Size: 1024}},
		{"failure", Sample{Method: "GET", Name: "/api/items", Duration: 42 * time.Millisecond, Err: errors.New("boom"), At: t0}},
	}
	for _, bb := range benches {
		b.Run(bb.name, func(b *testing.B) {
			r := NewCollector().Recorder(1)
			b.ReportAllocs()
			for b.Loop() {
				r.Record(bb.s)
			}
		})
	}
}

func BenchmarkRecordParallel(b *testing.B) {
	c := NewCollector()
	var ids atomic.Uint64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		r := c.Recorder(ids.Add(1))
		s := Sample{Method: "GET", Name: "/api/items", Duration: 42 * time.Millisecond, Size: 1024, At: t0}
		i := 0
		for pb.Next() {
			s.Duration = time.Duration(i%50) * time.Millisecond
			r.Record(s)
			i++
		}
	})
}

// BenchmarkReport reports 1000 rows recorded through 16 recorders from one
// goroutine.
func BenchmarkReport(b *testing.B) {
	c := NewCollector()
	names := make([]string, 1000)
	for i := range names {
		names[i] = fmt.Sprintf("/api/item/%d", i)
	}
	fill := func() {
		for i, name := range names {
			r := c.Recorder(uint64(i % 16))
			for j := range 5 {
				r.Record(Sample{Method: "GET", Name: name, Duration: time.Duration(j*37) * time.Millisecond, At: t0})
			}
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		fill()
		b.StartTimer()
		c.Report(t0)
	}
}

// BenchmarkRecordUsers records from GOMAXPROCS goroutines into 10 rows,
// with the users spread evenly over the goroutines: each user has its own
// recorder, and a goroutine records for its users in turn, as a core does
// when each request comes from another user. users=50 and users=10000 must
// cost the same per record; run it with -cpu 1,2 to compare one core with
// two. The goroutines split b.N between them up front rather than share
// RunParallel's counter, so that -benchtime Nx measures recording alone.
func BenchmarkRecordUsers(b *testing.B) {
	for _, users := range []int{50, 10000} {
		b.Run(fmt.Sprintf("users=%d", users), func(b *testing.B) {
			benchmarkRecordUsers(b, users)
		})
	}
}

func benchmarkRecordUsers(b *testing.B, users int) {
	c := NewCollector()
	names := make([]string, 10)
	for i := range names {
		names[i] = fmt.Sprintf("/api/%d", i)
	}
	goroutines := min(runtime.GOMAXPROCS(0), users)
	recorders := make([][]Recorder, goroutines) // goroutine g's users: g, g+goroutines, ...
	for id := range users {
		recorders[id%goroutines] = append(recorders[id%goroutines], c.Recorder(uint64(id)))
	}
	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	for g, mine := range recorders {
		n := b.N / goroutines
		if g == 0 {
			n += b.N % goroutines
		}
		wg.Go(func() { recordFor(mine, names, n) })
	}
	wg.Wait()
}

// recordFor records n samples for users in turn, cycling through names.
func recordFor(users []Recorder, names []string, n int) {
	s := Sample{Method: "GET", Size: 512, At: t0}
	for i := range n {
		s.Name = names[i%len(names)]
		s.Duration = time.Duration(i%300) * time.Millisecond
		users[i%len(users)].Record(s)
	}
}

// BenchmarkRecordListener is one record without a listener, and with one
// that counts: the listener's cost when unused must be nothing.
func BenchmarkRecordListener(b *testing.B) {
	var seen atomic.Int64
	for _, bb := range []struct {
		name   string
		listen func(Sample)
	}{
		{"none", nil},
		{"counting", func(Sample) { seen.Add(1) }},
	} {
		b.Run(bb.name, func(b *testing.B) {
			r := NewCollector().Recorder(1).WithListener(bb.listen)
			s := Sample{Method: "GET", Name: "/api/items", Duration: 42 * time.Millisecond, Size: 1024, At: t0}
			b.ReportAllocs()
			for b.Loop() {
				r.Record(s)
			}
		})
	}
}
