package smtpd

// generation is one set of options and the sessions that started with
// it. Its counters are guarded by Server.mu.
type generation struct {
	opts     Options // checked and defaulted; never changed
	sessions int     // sessions running with opts
	retired  bool    // Reload replaced it: no new session starts with it
	released chan struct{}
}

func newGeneration(o Options) *generation {
	return &generation{opts: o, released: make(chan struct{})}
}

// releaseIfUnused closes released once the generation is retired and its
// last session has ended. The caller holds Server.mu.
func (g *generation) releaseIfUnused() {
	if g.retired && g.sessions == 0 {
		select {
		case <-g.released:
		default:
			close(g.released)
		}
	}
}

// Reload replaces the options that new sessions start with. It checks
// opts as NewServer does; on error nothing changes. Sessions already
// running keep the options they started with until they end: their
// relay rules, limits, timeouts, filter and TLS configuration. Listeners
// stay, and so do the Spool and the Logger given to NewServer (those of
// opts are ignored). MaxConnections and MaxConnectionsPerIP of opts
// admit connections from now on, counting every running session.
//
// The returned channel is closed when no session runs with the replaced
// options any more (at once when none does): then whatever only they
// used, such as the previous filter chain, may be released.
func (srv *Server) Reload(opts Options) (<-chan struct{}, error) {
	srv.mu.Lock()
	opts.Spool, opts.Logger = srv.cur.opts.Spool, srv.log
	srv.mu.Unlock()
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	g := newGeneration(o)
	srv.mu.Lock()
	defer srv.mu.Unlock()
	old := srv.cur
	srv.cur = g
	old.retired = true
	old.releaseIfUnused()
	return old.released, nil
}
