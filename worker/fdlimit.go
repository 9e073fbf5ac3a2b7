package worker

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

// warnFileLimit warns when users, each holding one connection, could
// exceed the open-file limit.
func warnFileLimit(logger *slog.Logger, users int64) {
	limit, ok := fileLimit()
	if !ok || users <= 0 {
		return
	}
	if limit < fdReserve || uint64(users) > limit-fdReserve {
		logger.Warn("users could exceed the open-file limit: each HTTP user holds a connection; "+
			"raise it (ulimit -n, LimitNOFILE=) or run fewer users per worker",
			"users", users, "open_file_limit", limit)
	}
}
