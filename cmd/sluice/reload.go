package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"

	"github.com/sluice-mta/sluice/config"
	"github.com/sluice-mta/sluice/filter"
	"github.com/sluice-mta/sluice/smtpd"
	"github.com/sluice-mta/sluice/tls"
)

// How sluice serve applies a changed key on SIGHUP.
type keyEffect int

const (
	effectLive    keyEffect = iota // new SMTP sessions use the new value
	effectRestart                  // built at start: the running value stays until a restart
	effectUnused                   // not read by sluice serve (the milter server's keys)
)

// serveKeyEffect says how serve applies a change of key, a name from
// config.Keys or config.Changed ("milters[2]" is "milters"). A key it
// does not know needs a restart; TestServeKeyEffects keeps the table
// complete.
func serveKeyEffect(key string) keyEffect {
	key, _, _ = strings.Cut(key, "[")
	switch {
	case strings.HasPrefix(key, "queue."), strings.HasPrefix(key, "downstream."), strings.HasPrefix(key, "metrics."):
		return effectRestart
	case strings.HasPrefix(key, "milter_server."):
		return effectUnused
	}
	switch key {
	case "hostname", "log_level", "filters.access", "filters.dkim", "filters.dmarc", "filters.dnsbl", "filters.greylist", "filters.headers", "filters.ratelimit", "filters.spf", "milters",
		"smtp.relay_domains", "smtp.trusted_networks", "smtp.xclient_hosts", "smtp.xforward_hosts",
		"smtp.max_message_size", "smtp.max_recipients", "smtp.max_connections", "smtp.max_connections_per_ip",
		"smtp.bare_lf", "smtp.tls.cert_file", "smtp.tls.key_file", "smtp.auth.users_file",
		"smtp.command_timeout", "smtp.data_timeout", "smtp.connection_timeout", "smtp.shutdown_timeout",
		"smtp.resolve_client_names", "smtp.dns_timeout",
		"smtp.verify_recipients", "smtp.verify_cache_ttl", "smtp.verify_negative_ttl", "smtp.verify_timeout", "smtp.verify_on_error":
		return effectLive
	}
	return effectRestart // data_dir, smtp.listen, smtp.proxy_networks, and any key not listed
}

// keepRunning puts back into next the values of the keys serve cannot
// change while it runs, from running: a later reload then still compares
// the file with what is in force.
func keepRunning(next, running *config.Config) {
	next.DataDir = running.DataDir
	next.Queue = running.Queue
	next.Downstream = running.Downstream
	next.Metrics = running.Metrics
	next.SMTP.Listen = running.SMTP.Listen
	next.SMTP.ProxyNetworks = running.SMTP.ProxyNetworks
}

// live is what the SMTP server runs with, built from one configuration.
type live struct {
	cfg   *config.Config // in force: restart-only keys as at start
	opts  smtpd.Options
	chain *filter.Chain
	certs *tls.ServerCertificates
	ver   *verifyCache // recipient verification, nil when off
	// chainHeld holds, for each earlier set of options that used chain
	// too, the channel smtpd.Server.Reload closes once no session uses
	// them: the chain is released when they all are, and so is this one.
	chainHeld []<-chan struct{}
}

// buildLive builds the SMTP server's options from cfg. prev, when not
// nil, is what runs now: its filter chain is kept when no filter or
// milter changed (so are the milters' circuit breakers), and so is its
// self-signed certificate while the host name stays. Certificate and
// users files are read again. Nothing of prev is changed.
func buildLive(cfg *config.Config, prev *live, spool smtpd.Spool, log *slog.Logger) (_ *live, err error) {
	l := &live{cfg: cfg}
	if prev != nil && !anyChanged(prev.cfg, cfg, "filters.", "milters") {
		l.chain = prev.chain
	} else if l.chain, err = buildChain(cfg, log); err != nil {
		return nil, err
	} else {
		defer func() {
			if err != nil {
				closeChain(l.chain, log, "unused filter chain closed")
			}
		}()
	}
	s := cfg.SMTP
	if prev != nil && s.TLS.CertFile == "" && prev.certs.SelfSigned() && prev.cfg.Hostname == cfg.Hostname {
		l.certs = prev.certs
	} else {
		l.certs, err = tls.NewServerCertificates(tls.ServerCertOptions{CertFile: s.TLS.CertFile, KeyFile: s.TLS.KeyFile, Hostname: cfg.Hostname})
		if err != nil {
			return nil, fmt.Errorf("%s: smtp.tls: %w", cfgName(cfg), err)
		}
	}
	l.opts = smtpd.Options{
		Hostname: cfg.Hostname, Spool: spool, Filter: l.chain,
		RelayDomains: s.RelayDomains, TrustedNetworks: s.TrustedNetworks,
		XClientHosts: s.XClientHosts, XForwardHosts: s.XForwardHosts,
		TLSConfig:      tls.ServerConfig(l.certs),
		MaxMessageSize: s.MaxMessageSize, MaxRecipients: s.MaxRecipients,
		MaxConnections: s.MaxConnections, MaxConnectionsPerIP: s.MaxConnectionsPerIP,
		BareLF: smtpd.BareLFPolicy(s.BareLF), Logger: log,
		Timeouts: smtpd.Timeouts{Command: s.CommandTimeout, Data: s.DataTimeout, Connection: s.ConnectionTimeout, DNS: s.DNSTimeout},
	}
	if s.ResolveClientNames {
		// The Go resolver: /etc/hosts first, then DNS, each lookup
		// bounded by the context (smtp.dns_timeout).
		l.opts.Resolver = &net.Resolver{PreferGo: true}
	}
	if s.Auth.UsersFile != "" {
		users, err := smtpd.LoadUsersFile(s.Auth.UsersFile)
		if err != nil {
			return nil, fmt.Errorf("%s: smtp.auth.users_file: %w", cfgName(cfg), err)
		}
		l.opts.Auth = users
	}
	return l, nil
}

// anyChanged reports whether a key starting with one of prefixes differs
// between old and cur.
func anyChanged(old, cur *config.Config, prefixes ...string) bool {
	for _, k := range config.Changed(old, cur) {
		for _, p := range prefixes {
			if strings.HasPrefix(k, p) {
				return true
			}
		}
	}
	return false
}

// reloader applies a configuration loaded again (SIGHUP) to a running
// SMTP server.
type reloader struct {
	load  func() (*config.Config, error) // the same file, environment and flags as at start
	srv   *smtpd.Server
	spool smtpd.Spool
	down  downstreamVerifier // asked by recipient verification; nil: none
	log   *slog.Logger
	level *slog.LevelVar // log_level
	cur   *live
}

// reload loads the configuration and applies what changed: everything or,
// on any error, nothing. Keys that need a restart are logged and keep
// their running values.
func (r *reloader) reload() error {
	next, err := r.load()
	if err != nil {
		return err
	}
	changed := config.Changed(r.cur.cfg, next)
	keepRunning(next, r.cur.cfg)
	nl, err := buildLive(next, r.cur, r.spool, r.log)
	if err != nil {
		return err
	}
	applyVerify(nl, r.cur, r.down, r.log)
	released, err := r.srv.Reload(nl.opts)
	if err != nil {
		if nl.chain != r.cur.chain {
			closeChain(nl.chain, r.log, "unused filter chain closed")
		}
		return fmt.Errorf("%s: %w", cfgName(next), err)
	}
	old := r.cur
	r.cur = nl
	applied, ignored := r.report(changed)
	if held := stillHeld(old.chainHeld, released); nl.chain == old.chain {
		nl.chainHeld = held
	} else {
		logChain(r.log, next, nl.chain)
		go func() {
			for _, ch := range held {
				<-ch
			}
			closeChain(old.chain, r.log, "previous filter chain released")
		}()
	}
	r.log.Info("configuration reloaded", "config", cfgName(next), "changed", strings.Join(applied, " "), "ignored", strings.Join(ignored, " "))
	r.level.Set(next.LogLevel) // after the line above, which a quieter level would hide
	return nil
}

// stillHeld returns the channels of held not closed yet, and ch.
func stillHeld(held []<-chan struct{}, ch <-chan struct{}) []<-chan struct{} {
	out := make([]<-chan struct{}, 0, len(held)+1)
	for _, h := range held {
		select {
		case <-h:
		default:
			out = append(out, h)
		}
	}
	return append(out, ch)
}

// report logs the changed keys that need a restart, and returns those
// applied and those serve does not use.
func (r *reloader) report(changed []string) (applied, ignored []string) {
	for _, k := range changed {
		switch serveKeyEffect(k) {
		case effectLive:
			applied = append(applied, k)
		case effectUnused:
			ignored = append(ignored, k)
		default:
			r.log.Warn("configuration change needs a restart; keeping the running value", "key", k)
		}
	}
	if slices.Contains(applied, "hostname") {
		r.log.Warn("hostname applies to new SMTP sessions; the queue runner and the downstream keep the previous name until a restart")
	}
	return applied, ignored
}

// logReloadError logs why a reload failed, one line per problem.
func logReloadError(log *slog.Logger, err error) {
	var ee *exitErr
	if errors.As(err, &ee) && ee.err != nil {
		err = ee.err
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		log.Error("reload failed; keeping the running configuration", "err", e.Error())
	}
}

// closeChain releases a filter chain no session uses any more: members
// holding resources between sessions (io.Closer: a milterclient.Milter's
// idle connections) are closed. It logs done at debug level.
func closeChain(chain *filter.Chain, log *slog.Logger, done string) {
	for _, f := range chain.Filters() {
		if c, ok := f.(io.Closer); ok {
			if err := c.Close(); err != nil {
				log.Warn("closing a filter of the previous chain", "filter", filter.NameOf(f), "err", err)
			}
		}
	}
	log.Debug(done, "filters", chain.Name())
}
