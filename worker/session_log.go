package worker

// This file owns how the session keeps its log readable when a master
// misbehaves: warnings limited per kind and in total, and values a master
// chose cut to a length fit for one line. The session's other log lines
// are written where they happen (session_*.go).

import (
	"fmt"
	"sync"
	"time"

	"github.com/golocust/golocust/stats"
)

// badInputLines is how many warnings about the master's messages the
// session logs per badInputLogEvery at most.
const badInputLines = 50

// warnLimited logs a warning unless one with the same key was logged in
// the last badInputLogEvery before now.
//
// Keys may hold what a peer chose (an error naming its class), so every
// such line also spends from one budget, logBudget: a peer that makes
// every message different still gets no more than badInputLines lines
// per badInputLogEvery, and the count of the others.
func (s *session) warnLimited(now time.Time, key, msg string, args ...any) {
	if !s.allowLog(stats.Truncate(key, 256), now) {
		return
	}
	ok, suppressed := s.logBudget.take(now)
	if suppressed > 0 {
		s.logger.Warn("more log lines about the master's messages were suppressed", "lines", suppressed, "per", badInputLogEvery)
	}
	if ok {
		s.logger.Warn(msg, args...)
	}
}

// allowLog reports whether the session's limiter lets a line with key
// through at now: one per key per badInputLogEvery.
func (s *session) allowLog(key string, now time.Time) bool {
	ok, _ := s.limiter.allowAt(key, now)
	return ok
}

// lineBudget lets n lines through per period, and counts the others.
type lineBudget struct {
	mu         sync.Mutex
	start      time.Time
	used       int
	suppressed int64
}

// take spends one line at now. It returns whether the line may be logged,
// and, once per period, how many were suppressed in the previous one.
func (b *lineBudget) take(now time.Time) (ok bool, suppressed int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if now.Sub(b.start) >= badInputLogEvery {
		suppressed = b.suppressed
		b.start, b.used, b.suppressed = now, 0, 0
	}
	if b.used >= badInputLines {
		b.suppressed++
		return false, suppressed
	}
	b.used++
	return true, suppressed
}

// countsForLog returns user counts fit for one log line: the counts
// themselves for a few classes, else the total and the number of classes
// (a master's message may name any number of them).
func countsForLog(counts map[string]int64) any {
	if len(counts) <= 20 {
		return counts
	}
	return fmt.Sprintf("%d users in %d classes", sum(counts), len(counts))
}

// peerText cuts a string the master chose (a message type, a class
// name in an error) to a length fit for one log line.
func peerText(s string) string { return stats.Truncate(s, 256) }
