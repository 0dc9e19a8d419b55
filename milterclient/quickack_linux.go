//go:build linux

package milterclient

import (
	"net"

	"golang.org/x/sys/unix"
)

// quickAck asks the kernel to acknowledge the next segment at once
// instead of delaying the ACK. libmilter writes a reply in several small
// segments without TCP_NODELAY, so Nagle holds each later one until the
// previous is acknowledged; with a delayed ACK that costs ~40 ms per
// message. Linux clears the flag after use, so it is set before each read.
func quickAck(nc net.Conn) {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return
	}
	raw.Control(func(fd uintptr) {
		unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_QUICKACK, 1)
	})
}
