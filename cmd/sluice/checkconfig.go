package main

import (
	"fmt"
	"github.com/sluice-mta/sluice/filter"
	"io"
	"log/slog"

	"github.com/spf13/cobra"
)

func newCheckConfigCmd(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "check-config [--config FILE]",
		Short: "Validate the configuration; name the file and key of every error",
		Long: "check-config loads the configuration the way every other command does (file,\n" +
			"SLUICE_* environment, flags, defaults), builds the configured built-in filters,\n" +
			"and prints \"ok: FILE\", or every error found, one per line, and exits 1.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd, nil)
			if err != nil {
				return err
			}
			// The built-in filters judge the finer points of their own
			// options (address literals, reply lines): build them too.
			fs, err := buildFilters(cfg, slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn})))
			if err != nil {
				return err
			}
			_ = filter.NewChain(fs...).Close() // greylist: stop its writer, nothing changed

			name := cfg.File
			if name == "" {
				name = "built-in defaults"
			}
			_, err = fmt.Fprintf(stdout, "ok: %s\n", name)
			return err
		},
	}
}
