//go:build !unix

package worker

func platformFileLimit() (uint64, bool) { return 0, false }

func platformRaiseFileLimit() (before, after uint64, err error) { return 0, 0, nil }
