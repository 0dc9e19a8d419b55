package main

import "github.com/spf13/cobra"

// The commands below are part of the user-facing contract (DESIGN.md) but
// not built yet: they say so and exit 2.

func newServeCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "serve [--config FILE]",
		Short: "Run the SMTP front-end and its queue runner (not implemented yet)",
		Args:  cobra.ArbitraryArgs,
		RunE:  notImplemented("#5"),
	}
}
