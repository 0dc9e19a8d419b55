package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/sluice-mta/sluice/config"
	"github.com/sluice-mta/sluice/filter"
	"github.com/sluice-mta/sluice/miltersrv"
)

// runMilter serves the configured filter chain to MTAs until ctx ends,
// then drains for milter_server.shutdown_timeout.
func runMilter(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	chain, err := buildChain(cfg, log)
	if err != nil {
		return err
	}
	ms := cfg.MilterServer
	srv := miltersrv.New(chain, miltersrv.Options{
		Logger:           log,
		MaxConnections:   ms.MaxConnections,
		ReadTimeout:      ms.ReadTimeout,
		WriteTimeout:     ms.WriteTimeout,
		FailureVerdict:   failureVerdict(ms.FailureAction),
		ProgressInterval: ms.ProgressInterval,
		MaxPacket:        int(ms.MaxPacket),
	})
	l, err := miltersrv.Listen(ms.Listen.Spec)
	if err != nil {
		return fmt.Errorf("milter_server.listen %s: %w", ms.Listen.Spec, err)
	}
	logChain(log, cfg, chain)
	log.Info("sluice milter listening", "listen", ms.Listen.Spec, "filters", chain.Name(), "config", cfgName(cfg))
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	log.Info("sluice milter shutting down", "timeout", ms.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), ms.ShutdownTimeout)
	defer cancel()
	err = srv.Shutdown(sctx)
	if serr := <-served; !errors.Is(serr, miltersrv.ErrServerClosed) {
		return serr
	}
	if err != nil {
		log.Warn("shutdown timeout reached; remaining milter connections closed", "err", err)
	}
	return nil
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
