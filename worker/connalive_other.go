//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package worker

// This file owns the liveness check of an idle keep-alive connection on
// the platforms that cannot peek at a socket: there, idle connections are
// taken as alive. The check itself is keptConn.alive, in httpconns.go.

import (
	"net"
	"syscall"
)

// peekable returns nil: this platform cannot peek at a socket, and idle
// connections are taken as alive.
func peekable(net.Conn) syscall.RawConn { return nil }

func (c *keptConn) peek(uintptr) bool {
	c.peekOK = true
	return true
}
