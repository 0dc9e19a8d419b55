package main

import (
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/sluice-mta/sluice/config"
)

// newRootCmd builds the command tree writing to stdout and stderr.
func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "sluice",
		Short: "sluice: an SMTP front-end, milter server and milter client in one binary",
		Long: "sluice runs mail through one filter chain: as an SMTP front-end (serve),\n" +
			"behind Postfix or Sendmail as a milter (milter), or drives external milters (milter-test).",
		Args:          cobra.ArbitraryArgs,
		SilenceErrors: true,
		SilenceUsage:  true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageErr("sluice: unknown command %q", args[0])
			}
			cmd.SetOut(stderr)
			_ = cmd.Help()
			return &exitErr{code: exitUsage}
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageErr("%s: %v", c.CommandPath(), err)
	})
	root.PersistentFlags().String("config", "",
		"TOML configuration `FILE` (default $SLUICE_CONFIG, else built-in defaults)")
	root.PersistentFlags().String("log-level", "", "log `LEVEL`: debug, info, warn, error (key log_level)")
	root.CompletionOptions.DisableDefaultCmd = true
	root.AddCommand(
		newServeCmd(stderr),
		newMilterCmd(stderr),
		newMilterTestCmd(),
		newQueueCmd(),
		newCheckConfigCmd(stdout),
		newDKIMKeygenCmd(stdout, stderr),
		newVersionCmd(stdout),
	)
	return root
}

// globalFlagKeys binds the root's persistent flags to config keys.
func globalFlagKeys() map[string]string {
	return map[string]string{"log-level": "log_level"}
}

// configFile returns --config, else $SLUICE_CONFIG, else "" (defaults).
func configFile(cmd *cobra.Command) string {
	if f, _ := cmd.Flags().GetString("config"); f != "" {
		return f
	}
	return os.Getenv("SLUICE_CONFIG")
}

// loadConfig loads the configuration with cmd's flags bound by keys (plus
// the global ones).
func loadConfig(cmd *cobra.Command, keys map[string]string) (*config.Config, error) {
	all := globalFlagKeys()
	for name, key := range keys {
		all[name] = key
	}
	cfg, err := config.Load(config.LoadOptions{File: configFile(cmd), Flags: cmd.Flags(), FlagKeys: all})
	if err != nil {
		return nil, &exitErr{code: exitError, err: err}
	}
	return cfg, nil
}

// noArgs rejects positional arguments as a usage error.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageErr("%s: unexpected argument %q", cmd.CommandPath(), args[0])
	}
	return nil
}
