package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/sluice-mta/sluice/config"
)

func newMilterCmd(stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "milter [--config FILE] [--listen SOCKET]",
		Short: "Serve the [filters] and [[milters]] chain to Postfix or Sendmail over the milter protocol",
		Long: "milter listens on milter_server.listen (default inet:8890@127.0.0.1) and serves\n" +
			"the configured filter chain until SIGTERM or SIGINT, then lets open sessions\n" +
			"finish for milter_server.shutdown_timeout. A second signal exits at once.\n" +
			"SIGHUP re-reads the configuration: new MTA connections get the new chain,\n" +
			"[milter_server] options and log_level; open ones keep theirs. An invalid\n" +
			"configuration is logged and the running one kept; milter_server.listen\n" +
			"needs a restart.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return milterMain(cmd, stderr)
		},
	}
	cmd.Flags().String("listen", "", "milter socket `ADDRESS`: unix:/path, inet:port@host, inet6:port@host (key milter_server.listen)")
	return cmd
}

// milterMain loads the configuration, sets up logging and signals and
// runs the milter server until a signal ends it.
func milterMain(cmd *cobra.Command, stderr io.Writer) error {
	load := func() (*config.Config, error) {
		return loadConfig(cmd, map[string]string{"listen": "milter_server.listen"})
	}
	cfg, err := load()
	if err != nil {
		return err
	}
	level := new(slog.LevelVar)
	level.Set(cfg.LogLevel)
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signalContext(cmd.Context())
	defer stop()
	if err := runMilter(ctx, &milterRun{cfg: cfg, load: load, log: log, level: level}); err != nil {
		return fmt.Errorf("sluice milter: %w", err)
	}
	return nil
}

// signalContext returns a context cancelled by the first SIGTERM or SIGINT;
// after it, signal handling is restored so that a second signal ends the
// process at once. SIGHUP is ignored here; the commands that reload on it
// (serve, milter) ask for it with their own signal.Notify.
func signalContext(parent context.Context) (context.Context, context.CancelFunc) {
	signal.Ignore(syscall.SIGHUP)
	ctx, stop := signal.NotifyContext(parent, syscall.SIGTERM, os.Interrupt)
	go func() {
		<-ctx.Done()
		stop()
	}()
	return ctx, stop
}
