package miltersrv

import (
	"bufio"
	"net"
	"sync"

	"github.com/sluice-mta/sluice/milter"
)

// Buffers. A connection spends most of its life waiting for the MTA, so
// it holds no write buffer and, where the socket allows (inReader), no
// read buffer while it waits: both come from the server's pools for the
// time a burst of packets is read or a reply is written.
const (
	// inChunk is the size of a pooled read buffer: room for the macros and
	// commands Postfix sends in one write. Body chunks larger than it are
	// read straight into the packet buffer.
	inChunk = 4096
	// frameBuf is the smallest bufio.Reader: it only splits length
	// prefixes from packet data above a pooled inChunk.
	frameBuf = 16
)

// bufPools are the server's buffer pools.
type bufPools struct {
	out sync.Pool // *outBuf
	in  sync.Pool // *[inChunk]byte
}

// outBuf is a pooled milter.Writer and the connection it writes to.
type outBuf struct {
	dst connWriter
	w   *milter.Writer
}

// connWriter lets a pooled milter.Writer write to whichever connection
// holds it.
type connWriter struct{ nc net.Conn }

func (cw *connWriter) Write(p []byte) (int, error) { return cw.nc.Write(p) }

// getOut returns a writer bound to nc.
func (p *bufPools) getOut(nc net.Conn) *outBuf {
	ob, _ := p.out.Get().(*outBuf)
	if ob == nil {
		ob = &outBuf{}
		ob.w = milter.NewWriter(&ob.dst)
	}
	ob.dst.nc = nc
	return ob
}

// putOut returns ob to the pool after a write that succeeded: a failed
// write leaves bytes or a sticky error in it, so it is dropped.
func (p *bufPools) putOut(ob *outBuf, err error) {
	ob.dst.nc = nil
	if err == nil {
		p.out.Put(ob)
	}
}

func (p *bufPools) getIn() *[inChunk]byte {
	if b, _ := p.in.Get().(*[inChunk]byte); b != nil {
		return b
	}
	return new([inChunk]byte)
}

// newPacketReader returns the connection's packet reader: over an
// inReader when the socket supports waiting without a buffer, else over a
// plain bufio.Reader.
func (c *conn) newPacketReader(maxPacket int) *milter.Reader {
	if c.in.init(c.nc, &c.srv.pools) {
		return milter.NewReader(newFrameReader(&c.in), maxPacket)
	}
	return milter.NewReader(bufio.NewReaderSize(c.nc, inChunk), maxPacket)
}

// newFrameReader returns the small bufio.Reader milter.Reader reads
// length prefixes through, over in.
func newFrameReader(in *inReader) *bufio.Reader {
	return bufio.NewReaderSize(in, frameBuf)
}

// buffered returns the bytes read from the socket and not yet taken.
func (c *conn) buffered() int {
	return c.r.Buffered() + c.in.buffered()
}
