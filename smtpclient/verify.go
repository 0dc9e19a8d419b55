package smtpclient

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sluice-mta/sluice/envelope"
)

// maxVerifyIdle bounds the idle connections kept for verification.
const maxVerifyIdle = 4

// VerifyStatus is what the downstream said of a recipient.
type VerifyStatus int

// The statuses. The zero value is VerifyTempFail: nothing definite.
const (
	// VerifyTempFail: a 4xx reply, or no reply (connection failure,
	// timeout, MAIL FROM:<> refused): ask again later.
	VerifyTempFail VerifyStatus = iota
	// VerifyOK: RCPT got 250 or 251.
	VerifyOK
	// VerifyRejected: RCPT got a 5xx.
	VerifyRejected
)

// String names the status for logs.
func (s VerifyStatus) String() string {
	switch s {
	case VerifyOK:
		return "ok"
	case VerifyRejected:
		return "rejected"
	}
	return "tempfail"
}

// VerifyResult is the outcome of VerifyRecipient: the status and the
// reply it comes from (zero when the downstream did not answer).
type VerifyResult struct {
	Status VerifyStatus
	Reply  Reply
}

// verifyPool holds the connections used for verification, apart from
// those of deliveries: they never carry an XCLIENT identity.
type verifyPool struct {
	slots chan struct{} // one token per verification in progress

	mu     sync.Mutex
	idle   []*session // most recently used last
	reaper *time.Timer
	closed bool
}

// VerifyRecipient asks the downstream whether it takes rcpt, as Postfix's
// address verification does: MAIL FROM:<>, RCPT TO:<rcpt>, then RSET,
// keeping the connection for the next verification (at most a few idle,
// each for IdleTimeout), or QUIT. No message is sent. The error is nil
// when RCPT was answered; otherwise it says why the status is
// VerifyTempFail. Verifications run at most MaxConnections at once, on
// connections of their own.
func (c *Client) VerifyRecipient(ctx context.Context, rcpt envelope.Address) (VerifyResult, error) {
	select {
	case c.verify.slots <- struct{}{}:
	case <-ctx.Done():
		return VerifyResult{}, fmt.Errorf("smtpclient: verify <%s> at %s: %w", rcpt.Addr, c.remote, context.Cause(ctx))
	}
	defer func() { <-c.verify.slots }()
	for range 2 { // a reused connection found dead gets one fresh retry
		s, reused, err := c.verifySession(ctx)
		if err != nil {
			return VerifyResult{}, fmt.Errorf("smtpclient: verify <%s>: %w", rcpt.Addr, c.ioFailure(ctx, err))
		}
		res, err := s.verify(ctx, rcpt.Addr)
		c.releaseVerify(s)
		var ie *ioError
		if reused && ctx.Err() == nil && (res.Reply.Code == 421 || errors.As(err, &ie) && ie.stage == stageMail) {
			continue
		}
		if err != nil {
			err = fmt.Errorf("smtpclient: verify <%s>: %w", rcpt.Addr, c.ioFailure(ctx, err))
		}
		c.log.Debug("smtpclient: verify", "rcpt", rcpt.Addr, "remote", c.remote, "status", res.Status.String(), "reply", res.Reply.String(), "err", err)
		return res, err
	}
	return VerifyResult{}, fmt.Errorf("smtpclient: verify <%s> at %s: connections keep failing", rcpt.Addr, c.remote)
}

// verify runs one MAIL FROM:<> / RCPT / RSET exchange.
func (s *session) verify(ctx context.Context, rcpt string) (VerifyResult, error) {
	stop := s.watch(ctx)
	res, err := s.verifyExchange(rcpt)
	if !stop() && err == nil {
		err = &ioError{stageRset, context.Cause(ctx)}
	}
	if err != nil {
		s.broken = true
	}
	return res, err
}

func (s *session) verifyExchange(rcpt string) (VerifyResult, error) {
	s.messages++
	mail := "MAIL FROM:<>"
	if s.has("SMTPUTF8") && !isASCII(rcpt) {
		mail += " SMTPUTF8"
	}
	rep, err := s.cmd(stageMail, mail)
	if err != nil {
		return VerifyResult{}, err
	}
	if rep.Code != 250 {
		s.rset()
		return VerifyResult{Reply: rep}, replyFailure("MAIL FROM:<>", rep)
	}
	rep, err = s.cmd(stageRcpt, "RCPT TO:<"+rcpt+">")
	if err != nil {
		return VerifyResult{}, err
	}
	res := VerifyResult{Status: VerifyTempFail, Reply: rep}
	switch {
	case rep.Code == 250 || rep.Code == 251:
		res.Status = VerifyOK
	case rep.Code/100 == 5:
		res.Status = VerifyRejected
	}
	s.rset()
	return res, nil
}

// isASCII reports whether s is all ASCII.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// verifySession returns an idle verification session, or a new one.
func (c *Client) verifySession(ctx context.Context) (*session, bool, error) {
	p := &c.verify
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, false, deferred("4.4.2", "%v", errClosed)
	}
	var s *session
	var expired []*session
	for len(p.idle) > 0 && s == nil {
		last := p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		if time.Since(last.idle) >= c.opts.IdleTimeout {
			expired = append(expired, last)
		} else {
			s = last
		}
	}
	p.mu.Unlock()
	for _, e := range expired {
		e.quit()
	}
	if s != nil {
		return s, true, nil
	}
	s, err := c.open(ctx)
	return s, false, err
}

// releaseVerify keeps s idle for the next verification, or ends it.
func (c *Client) releaseVerify(s *session) {
	p := &c.verify
	keep := !s.broken && c.opts.IdleTimeout > 0 && s.messages < c.opts.MaxMessagesPerConn
	var drop []*session
	p.mu.Lock()
	if keep && !p.closed {
		s.idle = time.Now()
		p.idle = append(p.idle, s)
		if n := len(p.idle) - maxVerifyIdle; n > 0 {
			drop = append(drop, p.idle[:n]...)
			p.idle = append([]*session(nil), p.idle[n:]...)
		}
		if p.reaper == nil {
			p.reaper = time.AfterFunc(c.opts.IdleTimeout, c.reapVerify)
		} else if len(p.idle) == 1 {
			p.reaper.Reset(c.opts.IdleTimeout)
		}
	} else {
		drop = append(drop, s)
	}
	p.mu.Unlock()
	for _, d := range drop {
		d.quit()
	}
}

// reapVerify closes the verification sessions idle for IdleTimeout.
func (c *Client) reapVerify() {
	p := &c.verify
	p.mu.Lock()
	var expired, kept []*session
	for _, s := range p.idle {
		if time.Since(s.idle) >= c.opts.IdleTimeout {
			expired = append(expired, s)
		} else {
			kept = append(kept, s)
		}
	}
	p.idle = kept
	if len(kept) > 0 && !p.closed {
		p.reaper.Reset(c.opts.IdleTimeout - time.Since(kept[0].idle))
	}
	p.mu.Unlock()
	for _, s := range expired {
		s.quit()
	}
}

// closeVerify ends the idle verification sessions (Close).
func (c *Client) closeVerify() {
	p := &c.verify
	p.mu.Lock()
	p.closed = true
	idle := p.idle
	p.idle = nil
	if p.reaper != nil {
		p.reaper.Stop()
	}
	p.mu.Unlock()
	for _, s := range idle {
		s.quit()
	}
}
