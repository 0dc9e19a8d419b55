package main

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/sluice-mta/sluice/config"
)

func newServeCmd(stderr io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "serve [--config FILE]",
		Short: "Run the SMTP front-end and its queue runner",
		Long: "serve accepts mail on smtp.listen (default 127.0.0.1:2525), runs it through the\n" +
			"[filters] and [[milters]] chain, queues it durably in queue.dir and delivers it\n" +
			"to downstream.address (default maildir:./var/mail). SIGHUP reads the configuration\n" +
			"again and applies it to new sessions (relay control, limits, timeouts, hostname,\n" +
			"filters and milters, TLS and users files, log level); keys that need a restart\n" +
			"(listeners, queue, downstream) are logged and keep their values, and an invalid\n" +
			"configuration is logged and changes nothing. SIGTERM or SIGINT drains and exits.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			load := func() (*config.Config, error) { return loadConfig(cmd, nil) }
			cfg, err := load()
			if err != nil {
				return err
			}
			level := new(slog.LevelVar)
			level.Set(cfg.LogLevel)
			log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
			ctx, stop := signalContext(cmd.Context())
			defer stop()
			if err := runServe(ctx, cfg, serveEnv{log: log, level: level, load: load}); err != nil {
				return fmt.Errorf("sluice serve: %w", err)
			}
			return nil
		},
	}
}
