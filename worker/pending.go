package worker

// This file owns the statistics reports a session holds until the
// transport has written them: a report leaves only once written; reports
// dropped with a connection are sent again; beyond maxPendingReports the
// unsent ones are merged (stats add up), and one too large for a message
// is split.

import (
	"slices"
	"sync/atomic"
	"time"

	"github.com/golocust/golocust/protocol"
)

// maxReportBytes bounds the encoded size of one statistics message; a
// larger report is split into several that the master adds up. Well below
// the transport's queue limit, so that heartbeats are not held behind it.
const maxReportBytes = 4 << 20

// States of a pendingReport.
const (
	reportUnsent int32 = iota
	reportInFlight
	reportWritten
)

// pendingReport is a statistics report not yet written to a master.
type pendingReport struct {
	msg   protocol.StatsMessage
	state atomic.Int32 // reportUnsent, reportInFlight or reportWritten; set by the transport
}

func (p *pendingReport) written() bool { return p.state.Load() == reportWritten }

// queueReportLocked adds m, the report at now, to the pending reports and
// sends what can be sent, oldest first. s.statsMu must be held.
func (s *session) queueReportLocked(now time.Time, m protocol.StatsMessage) {
	s.pending = append(s.pending, &pendingReport{msg: m})
	s.pending = slices.DeleteFunc(s.pending, (*pendingReport).written)
	if len(s.pending) > maxPendingReports {
		s.mergePendingLocked(now)
	}
	latest := m
	// Only a master that registered this worker reads what it is sent: a
	// master's ROUTER ignores a new connection until client_ready is
	// acked, and writes to it would count as done.
	for i := 0; i < len(s.pending) && s.acked.Load(); i++ {
		p := s.pending[i]
		if p.state.Load() != reportUnsent {
			continue
		}
		// User counts are a state, not a delta: every report says the latest.
		p.msg.UserClassesCount, p.msg.UserCount = latest.UserClassesCount, latest.UserCount
		body, err := protocol.Encode(s.nodeID, p.msg)
		if err != nil {
			s.dropped += p.msg.Total.NumRequests
			s.logger.Error("cannot encode a statistics report; its requests are lost",
				"requests", p.msg.Total.NumRequests, "lost_so_far", s.dropped, "err", err)
			s.pending = slices.Delete(s.pending, i, i+1)
			i--
			continue
		}
		if len(body) > maxReportBytes {
			if parts := protocol.SplitStats(p.msg, len(body)/maxReportBytes+1); len(parts) > 1 {
				s.logger.Info("splitting a large statistics report", "bytes", len(body), "messages", len(parts))
				split := make([]*pendingReport, len(parts))
				for j := range parts {
					split[j] = &pendingReport{msg: parts[j]}
				}
				s.pending = slices.Replace(s.pending, i, i+1, split...)
				i--
				continue
			}
		}
		if err := s.sendReport(p, body); err != nil {
			break
		}
	}
	if n := s.countPending(reportUnsent); n > 0 && s.allowLog("pending-reports", now) {
		s.logger.Info("keeping statistics reports until a master takes them", "reports", n)
	}
}

// sendReport hands body to the transport; p stays pending until the
// transport reports it written, and is sent again if it was dropped.
func (s *session) sendReport(p *pendingReport, body []byte) error {
	err := s.sendTracked(&p.state, body)
	if err != nil {
		s.logger.Debug("statistics report not sent yet", "err", err)
	}
	return err
}

// sendTracked hands body to the transport and keeps state (reportUnsent,
// reportInFlight, reportWritten) as the transport tells what became of it.
func (s *session) sendTracked(state *atomic.Int32, body []byte) error {
	state.Store(reportInFlight)
	var err error
	if t, ok := s.conn.(protocol.SendTracker); ok {
		err = t.SendTracked(body, func(written bool) {
			if written {
				state.Store(reportWritten)
			} else {
				state.Store(reportUnsent)
			}
		})
	} else if err = s.conn.Send(body); err == nil {
		state.Store(reportWritten) // a transport that cannot tell
	}
	if err != nil {
		state.Store(reportUnsent)
	}
	return err
}

// mergePendingLocked merges every unsent report into the oldest unsent
// one, so that memory follows the distinct rows, not the time without a
// master. s.statsMu must be held.
func (s *session) mergePendingLocked(now time.Time) {
	var into *pendingReport
	merged := 0
	kept := s.pending[:0]
	for _, p := range s.pending {
		switch {
		case p.state.Load() != reportUnsent:
		case into == nil:
			into = p
		default:
			into.msg = protocol.MergeStats(into.msg, p.msg)
			merged++
			continue
		}
		kept = append(kept, p)
	}
	clear(s.pending[len(kept):])
	s.pending = kept
	if merged > 0 && s.allowLog("merge-reports", now) {
		s.logger.Info("merged statistics reports kept for the master", "merged", merged+1, "kept", len(s.pending))
	}
}

// countPending counts the pending reports in the given state.
func (s *session) countPending(state int32) int {
	n := 0
	for _, p := range s.pending {
		if p.state.Load() == state {
			n++
		}
	}
	return n
}

// logLostReports logs, once the transport is closed, the reports no
// master took, with their requests.
func (s *session) logLostReports() {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	var reports int
	var requests int64
	for _, p := range s.pending {
		if !p.written() {
			reports++
			requests += p.msg.Total.NumRequests
		}
	}
	switch {
	case requests > 0:
		s.logger.Error("exiting with statistics reports no master took; their requests are lost",
			"reports", reports, "requests", requests)
	case reports > 0:
		s.logger.Debug("exiting with statistics reports no master took; they held no requests", "reports", reports)
	}
}
