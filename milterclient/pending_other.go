//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package milterclient

import "net"

// pending cannot peek at sockets on this system; stray replies are then
// caught only when they are already buffered.
func pending(net.Conn) bool { return false }

// peerGone cannot peek at sockets on this system: an idle connection the
// milter closed is found when the next session uses it (and redials).
func peerGone(net.Conn) bool { return false }
