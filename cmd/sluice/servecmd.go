package main

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/spf13/cobra"
)

func newServeCmd(stderr io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "serve [--config FILE]",
		Short: "Run the SMTP front-end and its queue runner",
		Long: "serve accepts mail on smtp.listen (default 127.0.0.1:2525), runs it through the\n" +
			"[filters] and [[milters]] chain, queues it durably in queue.dir and delivers it\n" +
			"to downstream.address (default maildir:./var/mail). SIGHUP reloads the TLS\n" +
			"certificate and the AUTH users file; SIGTERM or SIGINT drains and exits.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd, nil)
			if err != nil {
				return err
			}
			log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
			ctx, stop := signalContext(cmd.Context())
			defer stop()
			if err := runServe(ctx, cfg, log); err != nil {
				return fmt.Errorf("sluice serve: %w", err)
			}
			return nil
		},
	}
}
