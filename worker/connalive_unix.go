//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package worker

// This file owns the liveness check of an idle keep-alive connection on
// the platforms that can peek at a socket without waiting.

import (
	"net"
	"syscall"
)

// peekable returns the raw socket of conn for keptConn.alive, or nil.
func peekable(conn net.Conn) syscall.RawConn {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return raw
}

// peek looks at the socket without waiting or consuming: an idle
// keep-alive connection has nothing to read (EAGAIN); end of file, bytes
// nobody asked for or an error mean the server is done with it. The
// socket is non-blocking, as Go keeps every socket.
func (c *keptConn) peek(fd uintptr) bool {
	n, _, err := syscall.Recvfrom(int(fd), c.buf[:], syscall.MSG_PEEK)
	c.peekOK = n < 0 && (err == syscall.EAGAIN || err == syscall.EWOULDBLOCK || err == syscall.EINTR)
	return true // done: do not wait for the socket to become readable
}
