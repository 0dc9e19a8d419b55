package miltersrv

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/filter"
	"github.com/sluice-mta/sluice/milter"
)

// endOfMessage runs the filter's EndOfMessage, keeping the MTA's timer
// alive with SMFIR_PROGRESS, then sends the edits and the verdict.
func (c *conn) endOfMessage(ctx context.Context, last []byte) error {
	defer func() { c.skipBody = false }()
	sess, err := c.session(ctx)
	if err != nil {
		c.reply(filter.StageEndOfMessage, c.opts.FailureVerdict)
		return err
	}
	if len(last) > 0 && !c.skipBody && !c.needs.Skip.Has(filter.StageBody) {
		var v filter.Verdict
		if err := c.guard(ctx, func() { v = sess.Body(ctx, last) }); err != nil {
			c.reply(filter.StageEndOfMessage, c.opts.FailureVerdict)
			return err
		}
		if v.Terminal() {
			return c.reply(filter.StageEndOfMessage, v)
		}
	}
	mod := filter.NewModifier(c.needs.Edits&editsFor(c.neg.actions), c.progress)
	var v filter.Verdict
	c.startKeepAlive()
	err = c.guard(ctx, func() { v = sess.EndOfMessage(ctx, mod) })
	c.stopKeepAlive()
	if err != nil {
		c.reply(filter.StageEndOfMessage, c.opts.FailureVerdict)
		return err
	}
	c.macros.clearTransaction()
	if v.Terminal() {
		return c.reply(filter.StageEndOfMessage, v)
	}
	if err := c.sendEdits(mod.Edits(), c.response(filter.StageEndOfMessage, v)); err != nil {
		return fmt.Errorf("sending edits: %w", err)
	}
	return nil
}

// progress sends SMFIR_PROGRESS; Modifier.Progress calls it.
func (c *conn) progress(context.Context) error {
	return c.send(milter.Progress{})
}

// startKeepAlive arms the connection's progress timer: while end of
// message runs, SMFIR_PROGRESS goes out every ProgressInterval. One timer
// per connection, re-armed per message, so a message costs no goroutine.
func (c *conn) startKeepAlive() {
	every := c.opts.ProgressInterval
	if every < 0 {
		return
	}
	c.wmu.Lock()
	c.inEOM = true
	c.wmu.Unlock()
	if c.progressTimer == nil {
		c.progressTimer = time.AfterFunc(every, c.progressTick)
	} else {
		c.progressTimer.Reset(every)
	}
}

// stopKeepAlive disarms the timer; a tick already under way finds inEOM
// false and sends nothing, so no progress follows the final reply.
func (c *conn) stopKeepAlive() {
	if c.progressTimer == nil {
		return
	}
	c.wmu.Lock()
	c.inEOM = false
	c.wmu.Unlock()
	c.progressTimer.Stop()
}

func (c *conn) progressTick() {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if !c.inEOM {
		return
	}
	err := c.writeLocked(func(w *milter.Writer) error { return w.WritePacket(milter.Progress{}.Encode()) })
	if err == nil {
		c.progressTimer.Reset(c.opts.ProgressInterval)
	}
}

// sendEdits writes the edits as milter modification replies, then final,
// with one flush. A replaced body is streamed in negotiated-size chunks.
func (c *conn) sendEdits(edits []filter.Edit, final milter.Response) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.writeLocked(func(w *milter.Writer) error {
		for _, e := range edits {
			var err error
			if e.Kind == filter.ReplaceBody {
				err = c.writeBody(w, e.Body)
			} else {
				err = w.WritePacket(editResponse(e).Encode())
			}
			if err != nil {
				return err
			}
		}
		return w.WritePacket(final.Encode())
	})
}

func editResponse(e filter.Edit) milter.Response {
	switch e.Kind {
	case filter.AddHeader:
		return milter.AddHeader{Name: e.Name, Value: lfFolding(e.Value)}
	case filter.InsertHeader:
		return milter.InsertHeader{Index: uint32(e.Index), Name: e.Name, Value: lfFolding(e.Value)}
	case filter.ChangeHeader:
		return milter.ChangeHeader{Index: uint32(e.Index), Name: e.Name, Value: lfFolding(e.Value)}
	case filter.DeleteHeader:
		return milter.ChangeHeader{Index: uint32(e.Index), Name: e.Name}
	case filter.AddRecipient:
		return addRecipient(e.Address)
	case filter.DeleteRecipient:
		return milter.DelRcpt{Rcpt: angle(e.Address.Addr)}
	case filter.ChangeSender:
		return milter.ChangeFrom{From: angle(e.Address.Addr), Args: e.Address.ParamString()}
	case filter.Quarantine:
		return milter.Quarantine{Reason: e.Reason}
	}
	panic(fmt.Sprintf("miltersrv: no reply for edit %v", e.Kind))
}

func addRecipient(a envelope.Address) milter.Response {
	if len(a.Params) > 0 {
		return milter.AddRcptPar{Rcpt: angle(a.Addr), Args: a.ParamString()}
	}
	return milter.AddRcpt{Rcpt: angle(a.Addr)}
}

func angle(addr string) string {
	if strings.HasPrefix(addr, "<") {
		return addr
	}
	return "<" + addr + ">"
}

// writeBody streams the replacement body as SMFIR_REPLBODY packets of at
// most the negotiated chunk size. An empty body still yields one empty
// packet, so the MTA replaces the body with nothing. Each chunk is written
// with a fresh write deadline: a large body may take a while.
func (c *conn) writeBody(w *milter.Writer, body io.Reader) error {
	buf := make([]byte, c.neg.chunk)
	sent := false
	for {
		n, err := io.ReadFull(body, buf)
		if n > 0 || !sent {
			c.armWrite()
			if werr := w.WritePacket(milter.ReplaceBody{Chunk: buf[:n]}.Encode()); werr != nil {
				return werr
			}
			sent = true
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading the replacement body: %w", err)
		}
	}
}

func parseAddrPort(addr string, port uint16) (netip.AddrPort, error) {
	a, err := netip.ParseAddr(strings.TrimPrefix(addr, "IPv6:"))
	if err != nil {
		return netip.AddrPort{}, err
	}
	return netip.AddrPortFrom(a, port), nil
}
