package stats

import (
	"errors"
	"fmt"
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

// BenchmarkReport reports 1000 rows recorded through 16 recorders.
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

// BenchmarkRecordManyUsers records from GOMAXPROCS goroutines, each
// standing for 1,000 users with their own recorders, into 10 rows: the
// shape of a load test with many users. Run it with -cpu 1,2 to compare
// one core with two.
func BenchmarkRecordManyUsers(b *testing.B) {
	c := NewCollector()
	names := make([]string, 10)
	for i := range names {
		names[i] = fmt.Sprintf("/api/%d", i)
	}
	var next atomic.Uint64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		first := next.Add(1000) - 1000
		recorders := make([]Recorder, 1000)
		for i := range recorders {
			recorders[i] = c.Recorder(first + uint64(i))
		}
		s := Sample{Method: "GET", Duration: 42 * time.Millisecond, Size: 512, At: t0}
		i := 0
		for pb.Next() {
			s.Name = names[i%len(names)]
			s.Duration = time.Duration(i%300) * time.Millisecond
			recorders[i%len(recorders)].Record(s)
			i++
		}
	})
}
