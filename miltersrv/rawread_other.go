//go:build !unix

package miltersrv

import "errors"

const rawReadSupported = false

var errWouldBlock = errors.New("would block")

func rawRead(uintptr, []byte) (int, error) { return 0, errWouldBlock }
