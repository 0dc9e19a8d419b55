package smtpclient

import (
	"context"
	cryptotls "crypto/tls"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/tls"
)

// Client delivers messages to one downstream over SMTP or LMTP. It is safe
// for concurrent use; it keeps up to MaxConnections connections and reuses
// idle ones.
type Client struct {
	opts      Options
	target    target
	remote    string // the downstream as named in texts and RcptResult.Remote
	tlsConfig *cryptotls.Config
	log       *slog.Logger

	slots  chan struct{} // one token per connection in use by a delivery
	verify verifyPool    // VerifyRecipient's connections

	mu     sync.Mutex
	idle   []*session // most recently used last
	reaper *time.Timer
	closed bool
}

// New checks opts and returns a Client. It does not connect.
func New(opts Options) (*Client, error) {
	opts, t, err := opts.normalize()
	if err != nil {
		return nil, err
	}
	c := &Client{opts: opts, target: t, remote: t.addr, log: opts.Logger}
	if t.network == "unix" {
		c.remote = "unix:" + t.addr
	}
	c.tlsConfig, err = tls.ClientConfig(opts.TLS, opts.TLSServerName, opts.TLSRoots)
	if err != nil {
		return nil, err
	}
	c.slots = make(chan struct{}, opts.MaxConnections)
	c.verify.slots = make(chan struct{}, opts.MaxConnections)
	return c, nil
}

// errClosed is the text of deliveries attempted after Close.
var errClosed = errors.New("smtpclient: client closed")

// Deliver sends m to the downstream and returns one result per recipient
// in m.To, in order: Delivered, Deferred (4xx replies, connection
// failures, timeouts, TLS or AUTH trouble) or Failed (5xx replies, a
// message over the downstream's SIZE, an SMTPUTF8 message the downstream
// cannot take).
func (c *Client) Deliver(ctx context.Context, m *envelope.Delivery) []envelope.RcptResult {
	if len(m.To) == 0 {
		return nil
	}
	select {
	case c.slots <- struct{}{}:
	case <-ctx.Done():
		return c.failAll(m, deferred("4.4.2", "delivery to %s not started: %v", c.remote, context.Cause(ctx)))
	}
	defer func() { <-c.slots }()

	s, err := c.sessionFor(ctx, m)
	if err != nil {
		return c.failAll(m, c.ioFailure(ctx, err))
	}
	results := s.deliver(ctx, m)
	c.release(s)
	c.logResults(m, results)
	return results
}

// failAll gives every recipient the same failure.
func (c *Client) failAll(m *envelope.Delivery, f *failure) []envelope.RcptResult {
	out := make([]envelope.RcptResult, len(m.To))
	for i, r := range m.To {
		out[i] = f.result(r.Addr, c.remote)
	}
	c.logResults(m, out)
	return out
}

func (c *Client) logResults(m *envelope.Delivery, results []envelope.RcptResult) {
	if !c.log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	for _, r := range results {
		c.log.Debug("smtpclient: "+r.Status.String(), "queue_id", m.QueueID, "rcpt", r.Rcpt,
			"remote", c.remote, "code", r.Code, "enhanced", r.Enhanced, "text", r.Text)
	}
}

// Close ends the idle connections with QUIT; connections busy with a
// delivery close when it ends. Deliveries after Close are deferred, and
// verifications fail temporarily.
func (c *Client) Close() error {
	c.closeVerify()
	c.mu.Lock()
	c.closed = true
	idle := c.idle
	c.idle = nil
	if c.reaper != nil {
		c.reaper.Stop()
	}
	c.mu.Unlock()
	for _, s := range idle {
		s.quit()
	}
	return nil
}
