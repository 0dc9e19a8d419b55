package filter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// EndOfMessage runs each active member's end of message in order: a member
// that did not see the content live is first given the header section and
// body as the earlier members left them. Each member gets its own Modifier,
// limited to what it declared, and its edits are passed on to mod in order.
func (s *chainSession) EndOfMessage(ctx context.Context, mod *Modifier) Verdict {
	defer s.endMessage()
	if s.kept.err != nil {
		return s.kept.verdict()
	}
	replaced := false
	for _, m := range s.members {
		if !m.active() {
			continue
		}
		if !m.live {
			if v := s.replayTo(ctx, m); v.Terminal() {
				return v
			} else if v.Action == ActionAccept {
				continue
			}
		}
		own := NewModifier(m.needs.Edits, mod.progress)
		v := s.note(m, StageEndOfMessage, m.sess.EndOfMessage(ctx, own))
		for _, e := range own.Edits() {
			e = s.outerEdit(m, e)
			if s.c.replay && e.Kind == ReplaceBody {
				if err := s.kept.replaceBody(e.Body, s.c.opts); err != nil {
					return s.kept.verdict()
				}
				replaced = true
				continue
			}
			if s.c.replay && e.Kind.IsHeaderEdit() {
				s.kept.headers = ApplyHeaderEdit(s.kept.headers, e)
			}
			mod.apply(e)
		}
		if v.Terminal() {
			return v
		}
	}
	if replaced {
		mod.apply(Edit{Kind: ReplaceBody, Body: s.kept.bodyReader()})
	}
	return s.summary(StageEndOfMessage)
}

// outerEdit adapts a member's header edit to the chain's header
// convention: when the chain passes values with their leading space, a
// member that wrote its values without one gets it added.
func (s *chainSession) outerEdit(m *member, e Edit) Edit {
	if s.leadSpace && !m.needs.HeaderLeadingSpace && e.Kind.IsHeaderEdit() && e.Kind != DeleteHeader {
		e.Value = " " + e.Value
	}
	return e
}

// replayTo gives a member that is not live the kept header section and
// body. It returns the first terminal or accept verdict, or Continue.
func (s *chainSession) replayTo(ctx context.Context, m *member) Verdict {
	stop := func(v Verdict) bool { return v.Terminal() || v.Action == ActionAccept }
	if !m.needs.Skip.Has(StageHeader) {
		for _, h := range s.kept.headers {
			if v := s.note(m, StageHeader, s.header(ctx, m, h.Name, h.Value)); stop(v) {
				return v
			}
		}
	}
	if !m.needs.Skip.Has(StageEndOfHeaders) {
		if v := s.note(m, StageEndOfHeaders, m.sess.EndOfHeaders(ctx)); stop(v) {
			return v
		}
	}
	if m.needs.Skip.Has(StageBody) || s.kept.body == nil {
		return Continue
	}
	r := s.kept.bodyReader()
	buf := make([]byte, 64*1024)
	for {
		n, err := io.ReadFull(r, buf)
		if n > 0 {
			v := s.note(m, StageBody, m.sess.Body(ctx, buf[:n]))
			if stop(v) {
				return v
			}
			if m.skipBody {
				return Continue
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return Continue
			}
			s.kept.fail(fmt.Errorf("reading the kept body: %w", err), false)
			return s.kept.verdict()
		}
	}
}

// keptMessage is the header section and body a chain keeps for members
// that see them only at end of message.
type keptMessage struct {
	headers  []HeaderField
	hdrBytes int
	body     *os.File // unlinked temporary file
	size     int64
	err      error // the first failure: the message cannot be filtered
	tooLarge bool
}

func (k *keptMessage) fail(err error, tooLarge bool) {
	if k.err == nil {
		k.err, k.tooLarge = err, tooLarge
	}
}

// verdict answers a message the chain could not keep.
func (k *keptMessage) verdict() Verdict {
	if k.tooLarge {
		return CustomReply(552, "5.3.4", "Message too large for the filter chain: "+k.err.Error())
	}
	return CustomReply(451, "4.3.0", "Filter chain failure: "+k.err.Error())
}

func (k *keptMessage) addHeader(name, value string, limit int) {
	if k.err != nil {
		return
	}
	k.hdrBytes += len(name) + len(value) + 3
	if k.hdrBytes > limit {
		k.fail(fmt.Errorf("header section over %d bytes", limit), true)
		return
	}
	k.headers = append(k.headers, HeaderField{Name: name, Value: value})
}

func (k *keptMessage) writeBody(chunk []byte, o ChainOptions) {
	if k.err != nil {
		return
	}
	if k.size+int64(len(chunk)) > o.MaxBodyBytes {
		k.fail(fmt.Errorf("body over %d bytes", o.MaxBodyBytes), true)
		return
	}
	if k.body == nil {
		f, err := tempFile(o.tempDir())
		if err != nil {
			k.fail(err, false)
			return
		}
		k.body = f
	}
	if _, err := k.body.Write(chunk); err != nil {
		k.fail(fmt.Errorf("keeping the body: %w", err), false)
		return
	}
	k.size += int64(len(chunk))
}

// replaceBody makes what r yields the kept body.
func (k *keptMessage) replaceBody(r io.Reader, o ChainOptions) error {
	f, err := tempFile(o.tempDir())
	if err != nil {
		k.fail(err, false)
		return err
	}
	n, err := io.Copy(f, io.LimitReader(r, o.MaxBodyBytes+1))
	if err == nil && n > o.MaxBodyBytes {
		f.Close()
		k.fail(fmt.Errorf("replaced body over %d bytes", o.MaxBodyBytes), true)
		return k.err
	}
	if err != nil {
		f.Close()
		k.fail(fmt.Errorf("keeping the replaced body: %w", err), false)
		return k.err
	}
	if k.body != nil {
		k.body.Close()
	}
	k.body, k.size = f, n
	return nil
}

// bodyReader reads the kept body from its start.
func (k *keptMessage) bodyReader() io.Reader {
	if k.body == nil {
		return strings.NewReader("")
	}
	return io.NewSectionReader(k.body, 0, k.size)
}

// reset forgets the message. A body handed on in a ReplaceBody edit stays
// readable until then: the next message, abort or close.
func (k *keptMessage) reset() {
	if k.body != nil {
		k.body.Close()
	}
	*k = keptMessage{headers: k.headers[:0]}
}

// tempFile creates a file in dir and unlinks it at once: it lives as long
// as it is open, and a crash leaves nothing behind.
func tempFile(dir string) (*os.File, error) {
	f, err := os.CreateTemp(dir, "sluice-chain-*")
	if err != nil {
		return nil, fmt.Errorf("keeping the message: %w", err)
	}
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, fmt.Errorf("keeping the message: %w", err)
	}
	return f, nil
}
