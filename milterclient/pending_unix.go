//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package milterclient

import (
	"net"
	"syscall"
)

// pending reports whether bytes (or an end of stream) wait to be read on
// nc, without blocking and without consuming them. Connections that are
// not sockets report false.
func pending(nc net.Conn) bool {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	var n int
	var perr error
	err = rc.Read(func(fd uintptr) bool {
		var b [1]byte
		n, _, perr = syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return true
	})
	return err == nil && perr == nil && n > 0
}

// peerGone reports, without blocking, whether an idle connection is no
// longer usable: the peer closed or reset it, or sent bytes nobody asked
// for. Connections that are not sockets report false.
func peerGone(nc net.Conn) bool {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	var perr error
	err = rc.Read(func(fd uintptr) bool {
		var b [1]byte
		_, _, perr = syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return true
	})
	if err != nil {
		return true
	}
	// Nothing to read is the only good answer; a peeked byte or end of
	// stream (nil error) and a reset (error) are not.
	return perr != syscall.EAGAIN && perr != syscall.EWOULDBLOCK
}
