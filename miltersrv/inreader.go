package miltersrv

import (
	"io"
	"net"
	"syscall"
)

// inReader reads from a socket through a pooled buffer that it holds only
// while it has unread bytes: it waits for the socket to become readable
// without a buffer (syscall.RawConn), so an idle connection holds none.
type inReader struct {
	nc    net.Conn
	rc    syscall.RawConn
	pools *bufPools
	buf   *[inChunk]byte // nil when empty
	r, w  int

	readFn func(fd uintptr) bool // rc.Read callback, bound once
	err    error                 // set by readFn
}

// init binds the reader to nc; it returns false when nc cannot wait
// without a buffer (not a socket of this platform).
func (in *inReader) init(nc net.Conn, pools *bufPools) bool {
	sc, ok := nc.(syscall.Conn)
	if !ok || !rawReadSupported {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	in.nc, in.rc, in.pools = nc, rc, pools
	in.readFn = in.readFD
	return true
}

func (in *inReader) buffered() int { return in.w - in.r }

// Read implements io.Reader for the connection's bufio.Reader.
func (in *inReader) Read(p []byte) (int, error) {
	if in.r == in.w {
		if len(p) >= inChunk {
			return in.nc.Read(p) // a large body chunk: straight to its buffer
		}
		if err := in.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, in.buf[in.r:in.w])
	in.r += n
	if in.r == in.w {
		in.release()
	}
	return n, nil
}

// fill waits for the socket to be readable and reads what is there into a
// pooled buffer. The read deadline and Close of the connection apply.
func (in *inReader) fill() error {
	in.err = nil
	if err := in.rc.Read(in.readFn); err != nil {
		in.release()
		return err
	}
	if in.err != nil {
		in.release()
		return in.err
	}
	return nil
}

// readFD is the rc.Read callback: it reads into a pooled buffer, or gives
// the buffer back and returns false to wait when nothing is there yet.
func (in *inReader) readFD(fd uintptr) bool {
	if in.buf == nil {
		in.buf = in.pools.getIn()
	}
	n, err := rawRead(fd, in.buf[:])
	switch {
	case err == errWouldBlock:
		in.release()
		return false
	case err != nil:
		in.err = err
	case n == 0:
		in.err = io.EOF
	default:
		in.r, in.w = 0, n
	}
	return true
}

// release gives the buffer back to the pool.
func (in *inReader) release() {
	if in.buf != nil {
		in.pools.in.Put(in.buf)
		in.buf = nil
	}
	in.r, in.w = 0, 0
}
