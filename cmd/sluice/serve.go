package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"syscall"

	"github.com/sluice-mta/sluice/config"
	"github.com/sluice-mta/sluice/maildir"
	"github.com/sluice-mta/sluice/queue"
	"github.com/sluice-mta/sluice/smtpclient"
	"github.com/sluice-mta/sluice/smtpd"
	"github.com/sluice-mta/sluice/tls"
)

// serveEnv is what runServe needs besides the configuration.
type serveEnv struct {
	log   *slog.Logger
	level *slog.LevelVar                 // the logger's level: log_level, set again on reload
	load  func() (*config.Config, error) // loads the configuration again on SIGHUP
	obs   smtpd.Observer                 // the SMTP server's, for metrics; nil: none
	down  downstreamVerifier             // the downstream client, for recipient verification; nil: none
}

// runServe runs the SMTP front-end and the queue runner until ctx ends,
// then drains: the listeners close, sessions in flight finish (421 to new
// commands), the runner stops, the queue closes. SIGHUP reloads the
// configuration (reloader).
func runServe(ctx context.Context, cfg *config.Config, env serveEnv) error {
	log := env.log
	// From here on SIGHUP reloads, and never ends the process, not even
	// while it drains.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	var met *metrics
	if cfg.Metrics.Listen != "" {
		met = newMetrics(roleServe)
		stop, err := startMetrics(met, cfg.Metrics.Listen, log)
		if err != nil {
			return err
		}
		defer stop()
	}
	qopts := spoolOptions(cfg, log.With("part", "queue"))
	qopts.Observer = met.queueObserver()
	q, err := queue.Open(qopts)
	if err != nil {
		return fmt.Errorf("queue.dir %s: %w", cfg.Queue.Dir, err)
	}
	defer q.Close()
	if met != nil {
		met.watchQueue(q)
	}
	env.obs = met.smtpObserver()
	deliverer, closeDeliverer, err := newDeliverer(cfg, log)
	if err != nil {
		return err
	}
	defer closeDeliverer()
	if c, ok := deliverer.(*smtpclient.Client); ok {
		env.down = c
	}
	r, err := newSMTPServer(cfg, queueSpool{q}, env)
	if err != nil {
		return err
	}
	defer func() { closeChain(r.cur.chain, log, "filter chain closed") }()
	listeners, err := listenAll(cfg.SMTP.Listen, cfg.SMTP.ProxyNetworks)
	if err != nil {
		return err
	}
	runCtx, stopRunner := context.WithCancel(context.Background())
	defer stopRunner()
	ran := make(chan error, 1)
	go func() { ran <- q.Run(runCtx, deliverer, queue.RunOptions{Hostname: cfg.Hostname}) }()
	served := make(chan error, len(listeners))
	for _, l := range listeners {
		log.Info("sluice serve listening", "listen", l.Addr().String(), "downstream", cfg.Downstream.Address, "queue", cfg.Queue.Dir)
		go func(l net.Listener) { served <- r.srv.Serve(l) }(l)
	}
	err = waitServe(ctx, served, hup, r)
	log.Info("sluice serve shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), r.cur.cfg.SMTP.ShutdownTimeout)
	defer cancel()
	if serr := r.srv.Shutdown(sctx); serr != nil {
		log.Warn("shutdown timeout reached; remaining SMTP sessions closed", "err", serr)
	}
	stopRunner()
	if rerr := <-ran; rerr != nil && !errors.Is(rerr, context.Canceled) {
		log.Warn("queue runner ended", "err", rerr)
	}
	return err
}

// waitServe blocks until ctx ends or a listener fails, reloading the
// configuration on each SIGHUP.
func waitServe(ctx context.Context, served <-chan error, hup <-chan os.Signal, r *reloader) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-served:
			if errors.Is(err, smtpd.ErrServerClosed) {
				return nil
			}
			return err
		case <-hup:
			r.log.Info("SIGHUP: reloading the configuration")
			if err := r.reload(); err != nil {
				logReloadError(r.log, err)
			}
		}
	}
}

// newSMTPServer builds the engine from cfg (buildLive: filters, TLS with
// a self-signed certificate for hostname without files, AUTH when a users
// file is set) and the reloader that changes it on SIGHUP.
func newSMTPServer(cfg *config.Config, spool smtpd.Spool, env serveEnv) (*reloader, error) {
	l, err := buildLive(cfg, nil, spool, env.log)
	if err != nil {
		return nil, err
	}
	applyVerify(l, nil, env.down, env.log)
	l.opts.Observer = env.obs // Reload keeps it
	srv, err := smtpd.NewServer(l.opts)
	if err != nil {
		return nil, err
	}
	return &reloader{load: env.load, srv: srv, spool: spool, down: env.down, log: env.log, level: env.level, cur: l}, nil
}

// listenAll opens the SMTP listeners, behind the PROXY protocol when
// proxy networks are configured.
func listenAll(addrs []string, proxies []netip.Prefix) ([]net.Listener, error) {
	var ls []net.Listener
	for _, a := range addrs {
		l, err := net.Listen("tcp", a)
		if err == nil && len(proxies) > 0 {
			l, err = smtpd.ProxyListener(l, smtpd.ProxyOptions{Trusted: proxies})
		}
		if err != nil {
			for _, o := range ls {
				o.Close()
			}
			return nil, fmt.Errorf("smtp.listen %s: %w", a, err)
		}
		ls = append(ls, l)
	}
	return ls, nil
}

// newDeliverer builds what the runner delivers through: the maildir
// writer or the SMTP/LMTP client.
func newDeliverer(cfg *config.Config, log *slog.Logger) (queue.Deliverer, func(), error) {
	d := cfg.Downstream
	if d.Target.Kind == "maildir" {
		m, err := maildir.New(d.Target.Addr, maildir.Options{Hostname: cfg.Hostname, Logger: log})
		if err != nil {
			return nil, nil, fmt.Errorf("downstream.address %s: %w", d.Address, err)
		}
		return m, func() {}, nil
	}
	policy, err := tls.ParsePolicy(d.TLS)
	if err != nil {
		return nil, nil, fmt.Errorf("downstream.tls: %w", err)
	}
	c, err := smtpclient.New(smtpclient.Options{
		Address: d.Address, TLS: policy, XClient: d.XClient, XForward: d.XForward,
		HeloName: cfg.Hostname, Logger: log,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("downstream.address %s: %w", d.Address, err)
	}
	return c, func() { c.Close() }, nil
}
