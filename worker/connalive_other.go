//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package worker

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
