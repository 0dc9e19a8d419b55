package miltersrv

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-mta/sluice/filter"
	"github.com/sluice-mta/sluice/milter"
)

// Options configure a Server. The zero value of each field has the default
// its comment gives. A connection takes the options in effect when it is
// accepted (see Server.SetOptions).
type Options struct {
	// Logger receives connection events and filter failures; default
	// slog.Default().
	Logger *slog.Logger
	// MaxConnections bounds concurrent MTA connections; beyond it new
	// connections are closed at once (the MTA applies its
	// milter_default_action). Default 1000.
	MaxConnections int
	// ReadTimeout bounds the wait for the MTA's next command. Default 7m,
	// longer than Postfix's milter_*_timeout defaults. Like WriteTimeout it
	// may end up to an eighth of itself (at most 1s) early: a deadline is
	// moved only when it would shift by more.
	ReadTimeout time.Duration
	// WriteTimeout bounds each reply. Default 30s.
	WriteTimeout time.Duration
	// FailureVerdict answers the stage at which the filter panicked;
	// default filter.TempFail. Must be tempfail, reject or accept.
	FailureVerdict filter.Verdict
	// ProgressInterval is how often SMFIR_PROGRESS is sent while a slow
	// end of message runs. Default 10s; negative disables it.
	ProgressInterval time.Duration
	// MaxPacket bounds the length of a packet from the MTA; default
	// milter.DefaultMaxPacket. SMFIP_MDS_256K/1M are negotiated only when
	// MaxPacket can hold them.
	MaxPacket int
	// BaseContext, when set, returns the context each connection's filter
	// session runs under; default context.Background().
	BaseContext func(net.Listener) context.Context
	// Observer is told of connections and verdicts, for metrics; nil:
	// nobody.
	Observer Observer
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MaxConnections <= 0 {
		o.MaxConnections = 1000
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = 7 * time.Minute
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 30 * time.Second
	}
	switch o.FailureVerdict.Action {
	case filter.ActionReject, filter.ActionTempFail, filter.ActionAccept:
	default:
		o.FailureVerdict = filter.TempFail
	}
	if o.ProgressInterval == 0 {
		o.ProgressInterval = 10 * time.Second
	}
	if o.MaxPacket <= 0 {
		o.MaxPacket = milter.DefaultMaxPacket
	}
	if o.BaseContext == nil {
		o.BaseContext = func(net.Listener) context.Context { return context.Background() }
	}
	if o.Observer == nil {
		o.Observer = nopObserver{}
	}
	return o
}

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("miltersrv: server closed")

// Server serves a filter.Filter to MTAs. The filter and the options may
// be replaced while it runs (SetFilter, SetOptions): connections opened
// after that use the new ones, connections already open keep theirs.
type Server struct {
	opts   atomic.Pointer[Options] // with defaults; read once per connection
	active atomic.Int64            // connections counted against MaxConnections
	pools  bufPools

	mu        sync.Mutex
	cur       *filterRef // the filter new connections get
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	closing   bool
	wg        sync.WaitGroup
}

// New returns a server for f. Needs is called once, here (and again for
// each filter given to SetFilter); a connection negotiates from that.
func New(f filter.Filter, opts Options) *Server {
	s := &Server{
		cur:       newFilterRef(f),
		listeners: map[net.Listener]struct{}{},
		conns:     map[*conn]struct{}{},
	}
	s.SetOptions(opts)
	return s
}

// SetOptions replaces the options for connections accepted from now on;
// open connections keep the timeouts, failure verdict, progress interval,
// packet limit and logger they started with. A lower MaxConnections
// refuses new connections until enough open ones have ended. BaseContext
// is read when Serve starts, so a change applies to later Serve calls.
func (s *Server) SetOptions(opts Options) {
	opts = opts.withDefaults()
	s.opts.Store(&opts)
}

// ListenAndServe listens on a milter socket address (see ParseAddress)
// and serves it.
func (s *Server) ListenAndServe(addr string) error {
	l, err := Listen(addr)
	if err != nil {
		return err
	}
	return s.Serve(l)
}

// Serve accepts MTA connections on l until Shutdown or Close, and returns
// ErrServerClosed then.
func (s *Server) Serve(l net.Listener) error {
	if !s.track(l) {
		l.Close()
		return ErrServerClosed
	}
	defer s.untrack(l)
	ctx := s.opts.Load().BaseContext(l)
	var backoff time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			if s.isClosing() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		s.start(ctx, nc)
	}
}

func (s *Server) start(ctx context.Context, nc net.Conn) {
	opts := s.opts.Load()
	if s.active.Add(1) > int64(opts.MaxConnections) {
		s.active.Add(-1)
		opts.Logger.Warn("milter connection refused: connection limit reached",
			"remote", nc.RemoteAddr().String(), "max_connections", opts.MaxConnections)
		nc.Close()
		opts.Observer.ConnectionRefused()
		return
	}
	c := newConn(s, nc, opts)
	if !s.addConn(c) {
		s.active.Add(-1)
		nc.Close()
		opts.Observer.ConnectionRefused()
		return
	}
	opts.Observer.ConnectionOpened()
	go c.run(ctx)
}

// run serves the connection and then releases what it held.
func (c *conn) run(ctx context.Context) {
	defer func() {
		c.srv.removeConn(c)
		c.srv.active.Add(-1)
		c.opts.Observer.ConnectionClosed()
	}()
	c.serve(ctx)
}

func (s *Server) track(l net.Listener) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.listeners[l] = struct{}{}
	return true
}

func (s *Server) untrack(l net.Listener) {
	s.mu.Lock()
	delete(s.listeners, l)
	s.mu.Unlock()
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

func (s *Server) addConn(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.conns[c] = struct{}{}
	c.fref = s.cur
	c.fref.users++
	s.wg.Add(1)
	return true
}

func (s *Server) removeConn(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	retired := c.fref.release()
	s.mu.Unlock()
	if retired != nil {
		retired.close(c.log())
	}
	s.wg.Done()
}

// Shutdown stops accepting connections, closes those that are between SMTP
// sessions, and waits for the others to finish their SMTP session. When ctx
// ends first, the remaining connections are closed and ctx's error is
// returned.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	for l := range s.listeners {
		l.Close()
	}
	for c := range s.conns {
		c.drain()
	}
	s.mu.Unlock()

	finished := make(chan struct{})
	go func() { s.wg.Wait(); close(finished) }()
	select {
	case <-finished:
		return nil
	case <-ctx.Done():
		s.Close()
		<-finished
		return ctx.Err()
	}
}

// Close closes every listener and connection at once.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closing = true
	for l := range s.listeners {
		l.Close()
	}
	for c := range s.conns {
		c.nc.Close()
	}
	s.mu.Unlock()
	return nil
}

// Connections returns the number of open MTA connections.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}
