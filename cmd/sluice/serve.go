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

// runServe runs the SMTP front-end and the queue runner until ctx ends,
// then drains: the listeners close, sessions in flight finish (421 to new
// commands), the runner stops, the queue closes.
func runServe(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	q, err := queue.Open(queue.Options{Dir: cfg.Queue.Dir, Retry: cfg.Queue.Retry, MaxAge: cfg.Queue.MaxAge, Logger: log.With("part", "queue")})
	if err != nil {
		return fmt.Errorf("queue.dir %s: %w", cfg.Queue.Dir, err)
	}
	defer q.Close()
	deliverer, closeDeliverer, err := newDeliverer(cfg, log)
	if err != nil {
		return err
	}
	defer closeDeliverer()
	srv, reload, err := newSMTPServer(cfg, queueSpool{q}, log)
	if err != nil {
		return err
	}
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
		go func(l net.Listener) { served <- srv.Serve(l) }(l)
	}
	err = waitServe(ctx, served, reload, log)
	log.Info("sluice serve shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), cfg.SMTP.ShutdownTimeout)
	defer cancel()
	if serr := srv.Shutdown(sctx); serr != nil {
		log.Warn("shutdown timeout reached; remaining SMTP sessions closed", "err", serr)
	}
	stopRunner()
	if rerr := <-ran; rerr != nil && !errors.Is(rerr, context.Canceled) {
		log.Warn("queue runner ended", "err", rerr)
	}
	return err
}

// waitServe blocks until ctx ends or a listener fails, reloading
// certificates and the users file on SIGHUP.
func waitServe(ctx context.Context, served <-chan error, reload func() error, log *slog.Logger) error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
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
			if err := reload(); err != nil {
				log.Error("reload failed; keeping the previous certificate and users", "err", err)
			} else {
				log.Info("reloaded certificate and users file")
			}
		}
	}
}

// newSMTPServer builds the engine: filters, TLS (a self-signed certificate
// for hostname without files), AUTH when a users file is set.
func newSMTPServer(cfg *config.Config, spool smtpd.Spool, log *slog.Logger) (*smtpd.Server, func() error, error) {
	chain, err := buildChain(cfg, log)
	if err != nil {
		return nil, nil, err
	}
	certs, err := tls.NewServerCertificates(tls.ServerCertOptions{CertFile: cfg.SMTP.TLS.CertFile, KeyFile: cfg.SMTP.TLS.KeyFile, Hostname: cfg.Hostname})
	if err != nil {
		return nil, nil, fmt.Errorf("%s: smtp.tls: %w", cfgName(cfg), err)
	}
	s := cfg.SMTP
	opts := smtpd.Options{
		Hostname: cfg.Hostname, Spool: spool, Filter: chain,
		RelayDomains: s.RelayDomains, TrustedNetworks: s.TrustedNetworks,
		XClientHosts: s.XClientHosts, XForwardHosts: s.XForwardHosts,
		TLSConfig:      tls.ServerConfig(certs),
		MaxMessageSize: s.MaxMessageSize, MaxRecipients: s.MaxRecipients,
		MaxConnections: s.MaxConnections, MaxConnectionsPerIP: s.MaxConnectionsPerIP,
		BareLF: smtpd.BareLFPolicy(s.BareLF), Logger: log,
		Timeouts: smtpd.Timeouts{Command: s.CommandTimeout, Data: s.DataTimeout, Connection: s.ConnectionTimeout},
	}
	var users *smtpd.UsersFile
	if s.Auth.UsersFile != "" {
		if users, err = smtpd.LoadUsersFile(s.Auth.UsersFile); err != nil {
			return nil, nil, fmt.Errorf("%s: smtp.auth.users_file: %w", cfgName(cfg), err)
		}
		opts.Auth = users
	}
	srv, err := smtpd.NewServer(opts)
	if err != nil {
		return nil, nil, err
	}
	reload := func() error {
		err := certs.Reload()
		if users != nil {
			err = errors.Join(err, users.Reload())
		}
		return err
	}
	return srv, reload, nil
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
