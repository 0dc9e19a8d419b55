package main

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/smtpclient"
	"github.com/sluice-mta/sluice/smtpd"
)

// maxVerifyEntries bounds the recipient verification cache.
const maxVerifyEntries = 10000

// downstreamVerifier asks the downstream about one recipient;
// *smtpclient.Client is one.
type downstreamVerifier interface {
	VerifyRecipient(ctx context.Context, rcpt envelope.Address) (smtpclient.VerifyResult, error)
}

// verifyCache is the smtpd.RecipientVerifier of sluice serve
// (smtp.verify_recipients): it asks the downstream through down and
// remembers definite answers, accepted addresses for posTTL and refused
// ones for negTTL; temporary failures are not remembered. Concurrent
// questions about one address share one lookup.
type verifyCache struct {
	down           downstreamVerifier
	posTTL, negTTL time.Duration
	timeout        time.Duration // bounds one lookup
	max            int
	now            func() time.Time
	log            *slog.Logger

	mu      sync.Mutex
	entries map[string]verifyEntry
	flights map[string]*verifyFlight
}

type verifyEntry struct {
	v       smtpd.Verification
	expires time.Time
}

// verifyFlight is a lookup in progress; v is set before done closes.
type verifyFlight struct {
	done chan struct{}
	v    smtpd.Verification
}

func newVerifyCache(down downstreamVerifier, posTTL, negTTL, timeout time.Duration, log *slog.Logger) *verifyCache {
	return &verifyCache{down: down, posTTL: posTTL, negTTL: negTTL, timeout: timeout, max: maxVerifyEntries,
		now: time.Now, log: log, entries: map[string]verifyEntry{}, flights: map[string]*verifyFlight{}}
}

// verifyKey is the cache key of an address: the local part as given (it
// may be case-sensitive downstream), the domain in lower case.
func verifyKey(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return addr
	}
	return addr[:at+1] + strings.TrimSuffix(strings.ToLower(addr[at+1:]), ".")
}

// VerifyRecipient implements smtpd.RecipientVerifier.
func (c *verifyCache) VerifyRecipient(ctx context.Context, rcpt envelope.Address) smtpd.Verification {
	key := verifyKey(rcpt.Addr)
	c.mu.Lock()
	if e, ok := c.entries[key]; ok && c.now().Before(e.expires) {
		c.mu.Unlock()
		return e.v
	}
	f, ok := c.flights[key]
	if !ok {
		f = &verifyFlight{done: make(chan struct{})}
		c.flights[key] = f
		// The lookup outlives the session that started it, so that the
		// others waiting for it, and the cache, get its answer.
		go c.lookup(context.WithoutCancel(ctx), key, rcpt, f)
	}
	c.mu.Unlock()
	select {
	case <-f.done:
		return f.v
	case <-ctx.Done():
		return smtpd.Verification{Err: context.Cause(ctx)}
	}
}

// lookup asks the downstream, records a definite answer and ends f.
func (c *verifyCache) lookup(ctx context.Context, key string, rcpt envelope.Address, f *verifyFlight) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	res, err := c.down.VerifyRecipient(ctx, rcpt)
	cancel()
	v := toVerification(res, err)
	c.log.Debug("recipient verification", "rcpt", rcpt.Addr, "status", res.Status.String(), "reply", res.Reply.String(), "err", err)
	c.mu.Lock()
	delete(c.flights, key)
	switch v.Status {
	case smtpd.VerifyOK:
		c.store(key, v, c.posTTL)
	case smtpd.VerifyRejected:
		c.store(key, v, c.negTTL)
	}
	c.mu.Unlock()
	f.v = v
	close(f.done)
}

// store adds an entry, making room when the cache is full: expired
// entries go first, then arbitrary ones. c.mu is held.
func (c *verifyCache) store(key string, v smtpd.Verification, ttl time.Duration) {
	now := c.now()
	if _, ok := c.entries[key]; !ok && len(c.entries) >= c.max {
		for k, e := range c.entries {
			if !now.Before(e.expires) {
				delete(c.entries, k)
			}
		}
		for k := range c.entries {
			if len(c.entries) < c.max {
				break
			}
			delete(c.entries, k)
		}
	}
	c.entries[key] = verifyEntry{v: v, expires: now.Add(ttl)}
}

// toVerification turns the downstream's answer into smtpd's terms.
func toVerification(res smtpclient.VerifyResult, err error) smtpd.Verification {
	v := smtpd.Verification{Code: res.Reply.Code, Enhanced: res.Reply.Enhanced, Text: res.Reply.Text(), Err: err}
	switch {
	case err != nil:
	case res.Status == smtpclient.VerifyOK:
		v.Status = smtpd.VerifyOK
	case res.Status == smtpclient.VerifyRejected:
		v.Status = smtpd.VerifyRejected
	}
	return v
}

// applyVerify sets the SMTP server's recipient verification from l's
// configuration: the cache of prev is kept while its TTLs and timeout
// stay. Without a downstream to ask (maildir, which the configuration
// refuses with verify_recipients) nothing is verified.
func applyVerify(l, prev *live, down downstreamVerifier, log *slog.Logger) {
	s := l.cfg.SMTP
	if !s.VerifyRecipients || down == nil {
		return
	}
	if p := prev; p != nil && p.ver != nil && p.ver.posTTL == s.VerifyCacheTTL && p.ver.negTTL == s.VerifyNegativeTTL && p.ver.timeout == s.VerifyTimeout {
		l.ver = p.ver
	} else {
		l.ver = newVerifyCache(down, s.VerifyCacheTTL, s.VerifyNegativeTTL, s.VerifyTimeout, log)
	}
	l.opts.RecipientVerifier = l.ver
	l.opts.VerifyOnError = smtpd.VerifyErrorPolicy(s.VerifyOnError)
	l.opts.Timeouts.Verify = s.VerifyTimeout
}
