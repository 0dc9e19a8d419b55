package smtpd

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("smtpd: server closed")

// Server is an SMTP server. Serve it on any number of listeners; change
// its options for new sessions with Reload; stop it with Shutdown
// (graceful) or Close.
type Server struct {
	log    *slog.Logger    // Options.Logger of NewServer; Reload keeps it
	obs    Observer        // Options.Observer of NewServer, never nil; Reload keeps it
	ctx    context.Context // cancelled by Close: every session's context derives from it
	cancel context.CancelFunc
	idBase string // random prefix of connection IDs
	nextID atomic.Uint64

	mu        sync.Mutex
	cur       *generation // the options new sessions start with (Reload)
	listeners map[net.Listener]struct{}
	sessions  map[*session]*generation // each with the options it started with
	perIP     map[netip.Addr]int
	closed    bool // Close called
	wg        sync.WaitGroup

	// draining is set by Shutdown: no new sessions, 421 to new commands.
	draining atomic.Bool
}

// NewServer checks opts and returns a server.
func NewServer(opts Options) (*Server, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	obs := o.Observer
	if obs == nil {
		obs = nopObserver{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		log: o.Logger, obs: obs, ctx: ctx, cancel: cancel, idBase: hex.EncodeToString(b[:]), cur: newGeneration(o),
		listeners: map[net.Listener]struct{}{}, sessions: map[*session]*generation{}, perIP: map[netip.Addr]int{},
	}, nil
}

// Serve accepts connections on l and serves each in its own goroutine
// until Shutdown or Close, when it returns ErrServerClosed; any other
// error of l is returned as is. l is closed when Serve returns. Wrap l
// with ProxyListener for the PROXY protocol.
func (srv *Server) Serve(l net.Listener) error {
	if !srv.track(l) {
		l.Close()
		return ErrServerClosed
	}
	defer srv.untrack(l)
	var backoff time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			if srv.stopping() {
				return ErrServerClosed
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			// Out of file descriptors and the like: wait and go on.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			srv.log.Warn("smtpd: accept failed", "listener", l.Addr().String(), "err", err, "retry_in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		srv.accept(nc)
	}
}

func (srv *Server) track(l net.Listener) bool {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.draining.Load() || srv.closed {
		return false
	}
	srv.listeners[l] = struct{}{}
	return true
}

func (srv *Server) untrack(l net.Listener) {
	srv.mu.Lock()
	delete(srv.listeners, l)
	srv.mu.Unlock()
	l.Close()
}

func (srv *Server) stopping() bool {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return srv.draining.Load() || srv.closed
}

// accept starts a session for nc with the options in force, or refuses
// it when the server is full or stopping.
func (srv *Server) accept(nc net.Conn) {
	srv.mu.Lock()
	g := srv.cur
	var refusal *Error
	var reason RefusalReason
	switch {
	case srv.draining.Load() || srv.closed:
		refusal, reason = errorf(codeUnavailable, esShutdown, g.opts.Hostname+" Service shutting down"), RefusedShutdown
	case len(srv.sessions) >= g.opts.MaxConnections:
		refusal, reason = errorf(codeUnavailable, esTempAuth, g.opts.Hostname+" Too many connections, try again later"), RefusedFull
	}
	if refusal != nil {
		srv.mu.Unlock()
		srv.obs.ConnectionRefused(reason)
		srv.log.Warn("smtpd: connection refused", "client", nc.RemoteAddr().String(), "reason", refusal.Message)
		go srv.refuse(nc, refusal)
		return
	}
	s := newSession(srv, &g.opts, nc, srv.newID())
	srv.sessions[s] = g
	g.sessions++
	srv.wg.Add(1)
	srv.mu.Unlock()
	go func() {
		defer srv.wg.Done()
		defer srv.forget(s)
		s.serve()
	}()
}

// refuse answers a connection the server will not serve, and closes it.
func (srv *Server) refuse(nc net.Conn, e *Error) {
	_ = nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, _ = fmt.Fprintf(nc, "%d %s %s\r\n", e.Code, e.Enhanced, e.Message)
	nc.Close()
}

func (srv *Server) newID() string {
	return srv.idBase + "-" + strconv.FormatUint(srv.nextID.Add(1), 36)
}

func (srv *Server) forget(s *session) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	g := srv.sessions[s]
	delete(srv.sessions, s)
	g.sessions--
	g.releaseIfUnused()
}

// admitIP counts a connection from addr, or reports false when that
// address has MaxConnectionsPerIP (of the options in force) already. An invalid address (a unix
// socket) is always admitted. Each admitted call needs a releaseIP. The
// observer hears of the connection here, opened or refused.
func (srv *Server) admitIP(addr netip.Addr) bool {
	if !srv.countIP(addr) {
		srv.obs.ConnectionRefused(RefusedPerIP)
		return false
	}
	srv.obs.ConnectionOpened()
	return true
}

func (srv *Server) countIP(addr netip.Addr) bool {
	if !addr.IsValid() {
		return true
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.perIP[addr] >= srv.cur.opts.MaxConnectionsPerIP {
		return false
	}
	srv.perIP[addr]++
	return true
}

// releaseIP ends an admitted connection (admitIP).
func (srv *Server) releaseIP(addr netip.Addr) {
	srv.obs.ConnectionClosed()
	if !addr.IsValid() {
		return
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if srv.perIP[addr]--; srv.perIP[addr] <= 0 {
		delete(srv.perIP, addr)
	}
}

// Shutdown stops the server gracefully: it closes the listeners, answers
// 421 4.3.2 to every new command outside a mail transaction (at once to
// sessions waiting for one), lets transactions in progress finish, and
// waits for every session to end. When ctx ends first, it closes what is
// left (Close) and returns ctx's error.
func (srv *Server) Shutdown(ctx context.Context) error {
	srv.mu.Lock()
	srv.draining.Store(true)
	for l := range srv.listeners {
		l.Close()
	}
	for s := range srv.sessions {
		s.wakeIfIdle()
	}
	srv.mu.Unlock()
	done := make(chan struct{})
	go func() {
		srv.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		srv.cancel()
		return nil
	case <-ctx.Done():
		srv.Close()
		return ctx.Err()
	}
}

// Close stops the server at once: listeners and connections are closed
// and filter and spool calls see their context cancelled. It does not
// wait for the sessions' goroutines; Shutdown does.
func (srv *Server) Close() error {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	srv.closed = true
	srv.cancel()
	for l := range srv.listeners {
		l.Close()
	}
	for s := range srv.sessions {
		s.raw.Close()
	}
	return nil
}
