package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"syscall"

	"github.com/sluice-mta/sluice/config"
	"github.com/sluice-mta/sluice/filter"
	"github.com/sluice-mta/sluice/miltersrv"
)

// milterRun is a running `sluice milter`: the server, the configuration
// in effect, and how to read it again on SIGHUP.
type milterRun struct {
	srv   *miltersrv.Server
	cfg   *config.Config
	load  func() (*config.Config, error) // the same file and flags as at start
	log   *slog.Logger
	level *slog.LevelVar     // the logger's level: log_level applies on reload
	obs   miltersrv.Observer // for metrics; nil: none. Set by runMilter
}

// runMilter serves the chain of r.cfg to MTAs until ctx ends, then drains
// for milter_server.shutdown_timeout. SIGHUP re-reads the configuration
// with r.load (see reload). r.srv is set here.
func runMilter(ctx context.Context, r *milterRun) error {
	cfg, log := r.cfg, r.log
	if cfg.Metrics.Listen != "" {
		met := newMetrics(roleMilter)
		stop, err := startMetrics(met, cfg.Metrics.Listen, log)
		if err != nil {
			return err
		}
		defer stop()
		r.obs = met.milterObserver()
	}
	chain, err := buildChain(cfg, log)
	if err != nil {
		return err
	}
	ms := cfg.MilterServer
	srv := miltersrv.New(chain, serverOptions(cfg, log, r.obs))
	l, err := miltersrv.Listen(ms.Listen.Spec)
	if err != nil {
		return fmt.Errorf("milter_server.listen %s: %w", ms.Listen.Spec, err)
	}
	logChain(log, cfg, chain)
	log.Info("sluice milter listening", "listen", ms.Listen.Spec, "filters", chain.Name(), "config", cfgName(cfg), "pid", os.Getpid())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	r.srv = srv
	defer func() { // the chain in force last; replaced ones close as they drain
		if c, ok := srv.Filter().(io.Closer); ok {
			_ = c.Close()
		}
	}()
	if err := r.wait(ctx, served); err != nil {
		return err
	}
	return r.shutdown(served)
}

// serverOptions turns [milter_server] into the server's options.
func serverOptions(cfg *config.Config, log *slog.Logger, obs miltersrv.Observer) miltersrv.Options {
	ms := cfg.MilterServer
	return miltersrv.Options{
		Observer:         obs,
		Logger:           log,
		MaxConnections:   ms.MaxConnections,
		ReadTimeout:      ms.ReadTimeout,
		WriteTimeout:     ms.WriteTimeout,
		FailureVerdict:   failureVerdict(ms.FailureAction),
		ProgressInterval: ms.ProgressInterval,
		MaxPacket:        int(ms.MaxPacket),
	}
}

// wait blocks until ctx ends (nil) or the server fails, reloading the
// configuration on each SIGHUP.
func (r *milterRun) wait(ctx context.Context, served <-chan error) error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case err := <-served:
			return err
		case <-hup:
			r.reload()
		case <-ctx.Done():
			return nil
		}
	}
}

func (r *milterRun) shutdown(served <-chan error) error {
	timeout := r.cfg.MilterServer.ShutdownTimeout
	r.log.Info("sluice milter shutting down", "timeout", timeout)
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := r.srv.Shutdown(sctx)
	if serr := <-served; !errors.Is(serr, miltersrv.ErrServerClosed) {
		return serr
	}
	if err != nil {
		r.log.Warn("shutdown timeout reached; remaining milter connections closed", "err", err)
	}
	return nil
}

// reload re-reads the configuration and builds a new chain; if both
// succeed, connections accepted from now on get the new chain and the new
// [milter_server] options, and log_level applies at once. Open
// connections finish with the chain they started with (an external
// milter's connection belongs to its session and closes with it). On any
// error, everything stays as it was.
func (r *milterRun) reload() {
	cfg, err := r.load()
	if err != nil {
		r.log.Error("configuration reload failed; keeping the running configuration", "err", err)
		return
	}
	chain, err := buildChain(cfg, r.log)
	if err != nil {
		r.log.Error("configuration reload failed; keeping the running configuration", "err", err)
		return
	}
	changed := config.Changed(r.cfg, cfg)
	if slices.Contains(changed, "milter_server.listen") {
		r.log.Warn("milter_server.listen changed; it needs a restart, still listening on the old address",
			"listen", r.cfg.MilterServer.Listen.Spec, "configured", cfg.MilterServer.Listen.Spec)
		cfg.MilterServer.Listen = r.cfg.MilterServer.Listen
	}
	r.srv.SetOptions(serverOptions(cfg, r.log, r.obs))
	r.srv.SetFilter(chain)
	r.cfg = cfg
	logChain(r.log, cfg, chain)
	r.log.Info("configuration reloaded", "config", cfgName(cfg), "filters", chain.Name(), "changed", changed)
	if r.level != nil {
		r.level.Set(cfg.LogLevel) // after the line above, which says it was applied
	}
}

func failureVerdict(action string) filter.Verdict {
	switch action {
	case "reject":
		return filter.Reject
	case "accept":
		return filter.Accept
	}
	return filter.TempFail
}
