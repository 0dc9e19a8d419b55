//go:build unix

package miltersrv

import (
	"errors"
	"os"
	"syscall"
)

const rawReadSupported = true

var errWouldBlock = syscall.EAGAIN

// rawRead reads from a non-blocking descriptor, retrying on EINTR. It
// returns errWouldBlock when nothing is there to read.
func rawRead(fd uintptr, p []byte) (int, error) {
	for {
		n, err := syscall.Read(int(fd), p)
		switch {
		case err == nil:
			return n, nil
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EAGAIN):
			return 0, errWouldBlock
		}
		return 0, os.NewSyscallError("read", err)
	}
}
