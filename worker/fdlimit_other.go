//go:build !unix

package worker

// This file owns the open-file limit on platforms without getrlimit
// (Windows among them): there is none to read or raise.

func platformFileLimit() (uint64, bool) { return 0, false }

func platformRaiseFileLimit() (before, after uint64, err error) { return 0, 0, nil }
