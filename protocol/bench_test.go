package protocol

import (
	"fmt"
	"testing"
)

// bigStats is a large report: 200 request names with 60 histogram buckets
// and 3 seconds each, plus 50 errors.
func bigStats() StatsMessage {
	m := StatsMessage{
		Errors:           map[string]StatsError{},
		UserClassesCount: map[string]int64{"WebUser": 300, "ApiUser": 200},
		UserCount:        500,
	}
	newEntry := func(name string) StatsEntry {
		e := StatsEntry{
			Name: name, Method: "GET", LastRequestTimestamp: ptr(1795691001.8), StartTime: 1795691000.8,
			NumRequests: 6000, NumFailures: 12, TotalResponseTime: 123456.7, MaxResponseTime: 5400, MinResponseTime: ptr(0.4),
			TotalContentLength: 1 << 24,
			ResponseTimes:      map[int64]int64{}, NumReqsPerSec: map[int64]int64{}, NumFailPerSec: map[int64]int64{},
		}
		for k := int64(0); k < 60; k++ {
			e.ResponseTimes[k*10] = k + 1
		}
		for s := int64(0); s < 3; s++ {
			e.NumReqsPerSec[1795691000+s] = 2000
			e.NumFailPerSec[1795691000+s] = 4
		}
		return e
	}
	for i := range 200 {
		m.Stats = append(m.Stats, newEntry(fmt.Sprintf("/api/items/%d", i)))
	}
	m.Total = newEntry("Aggregated")
	for i := range 50 {
		m.Errors[fmt.Sprintf("%064x", i)] = StatsError{Name: "/api", Method: "GET", Error: "HTTPError('503 Server Error')", Occurrences: 3}
	}
	return m
}

func BenchmarkEncodeStats(b *testing.B) {
	m := bigStats()
	body, _ := Encode(testNode, m)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Encode(testNode, m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeStats(b *testing.B) {
	body, err := Encode(testNode, bigStats())
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeHeartbeat(b *testing.B) {
	m := HeartbeatMessage{State: "running", CPUUsage: 12.5, MemoryUsage: 56229888}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Encode(testNode, m); err != nil {
			b.Fatal(err)
		}
	}
}

// typicalStats is the report a worker sends every 3 seconds in a typical
// test: 10 endpoints, about 40 histogram buckets each, 3 seconds.
func typicalStats() StatsMessage {
	m := StatsMessage{
		Errors:           map[string]StatsError{},
		UserClassesCount: map[string]int64{"WebUser": 1000},
		UserCount:        1000,
	}
	newEntry := func(name string) StatsEntry {
		e := StatsEntry{
			Name: name, Method: "GET", LastRequestTimestamp: ptr(1795691002.9), StartTime: 1795691000.0,
			NumRequests: 3000, TotalResponseTime: 123456.7, MaxResponseTime: 540, MinResponseTime: ptr(0.4),
			TotalContentLength: 3000 * 512,
			ResponseTimes:      map[int64]int64{}, NumReqsPerSec: map[int64]int64{}, NumFailPerSec: map[int64]int64{},
		}
		for k := int64(0); k < 40; k++ {
			e.ResponseTimes[k*10] = 75
		}
		for s := int64(0); s < 3; s++ {
			e.NumReqsPerSec[1795691000+s] = 1000
		}
		return e
	}
	for i := range 10 {
		m.Stats = append(m.Stats, newEntry(fmt.Sprintf("/api/items/%d", i)))
	}
	m.Total = newEntry("Aggregated")
	return m
}

func BenchmarkEncodeTypicalStats(b *testing.B) {
	m := typicalStats()
	body, err := Encode(testNode, m)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Encode(testNode, m); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(body)), "bytes/report")
}
