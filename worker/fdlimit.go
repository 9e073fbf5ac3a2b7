package worker

// This file owns the worker's open-file limit: raising it at start and
// warning when users with connections of their own could pass it. Asking
// the platform is in fdlimit_unix.go and fdlimit_other.go.

import "log/slog"

// fdReserve is how many file descriptors the worker keeps for itself: the
// master connection, logs, the runtime.
const fdReserve = 64

// fileLimit returns the process's soft limit on open files, and whether
// the platform has one.
func fileLimit() (uint64, bool) { return platformFileLimit() }

// raiseFileLimit raises the soft limit on open files to the hard limit,
// as Locust does, and logs the result.
func raiseFileLimit(logger *slog.Logger) {
	before, after, err := platformRaiseFileLimit()
	switch {
	case err != nil:
		logger.Warn("cannot raise the open-file limit", "limit", before, "err", err)
	case after > before:
		logger.Debug("raised the open-file limit", "from", before, "to", after)
	}
}

// warnFileLimit warns when users that each hold a connection of their
// own (ConnectionPerUser) could exceed the open-file limit, and reports
// whether it warned; the session warns once per worker. Users of the
// shared keep-alive pool hold no connection while they wait, and the
// pool never opens more connections than the limit leaves (requests wait
// for one instead, see sharedConnLimit), so they never bite it.
func warnFileLimit(logger *slog.Logger, users int64) bool {
	limit, ok := fileLimit()
	if !ok || users <= 0 {
		return false
	}
	if limit < fdReserve || uint64(users) > limit-fdReserve {
		logger.Warn("users with a connection of their own could exceed the open-file limit; "+
			"raise it (ulimit -n, LimitNOFILE=) or run fewer such users per worker",
			"users", users, "open_file_limit", limit)
		return true
	}
	return false
}
