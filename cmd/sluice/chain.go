package main

import (
	"fmt"
	"log/slog"

	"github.com/sluice-mta/sluice/config"
	"github.com/sluice-mta/sluice/filter"
	"github.com/sluice-mta/sluice/milterclient"
)

// buildChain builds the one filter chain of the configuration: the
// built-in filters of [filters] (buildFilters, in its fixed order), then
// the external milters of [[milters]] in the order of the file, each a
// milterclient.Milter with its name, address, default action, timeouts
// and connection reuse. Later members see earlier members' edits
// (filter.Chain). Errors name the file and key, as buildFilters' do.
//
// The chain's Close closes the milters' idle connections: serve's
// closeChain and the milter server (a replaced filter that is an
// io.Closer) call it when no session uses the chain any more.
func buildChain(cfg *config.Config, log *slog.Logger) (*filter.Chain, error) {
	filters, err := buildFilters(cfg, log)
	if err != nil {
		return nil, err
	}
	for i, mc := range cfg.Milters {
		opts, err := milterOptions(mc, log)
		if err == nil {
			var m *milterclient.Milter
			if m, err = milterclient.New(opts); err == nil {
				filters = append(filters, m)
				continue
			}
		}
		filter.NewChain(filters...).Close() // release what the members built so far hold
		return nil, &exitErr{code: exitError, err: fmt.Errorf("%s: milters[%d]: %w", cfgName(cfg), i, err)}
	}
	return filter.NewChain(filters...), nil
}

// milterOptions turns one [[milters]] entry into the client's options.
func milterOptions(mc config.Milter, log *slog.Logger) (milterclient.Options, error) {
	action, err := milterclient.ParseAction(mc.DefaultAction)
	if err != nil {
		return milterclient.Options{}, err
	}
	return milterclient.Options{
		Name:           mc.Name,
		Address:        mc.Address.Spec,
		DefaultAction:  action,
		ConnectTimeout: mc.ConnectTimeout,
		CommandTimeout: mc.CommandTimeout,
		EOMTimeout:     mc.EOMTimeout,
		MaxIdleConns:   mc.MaxIdleConns,
		IdleTimeout:    mc.IdleTimeout,
		Logger:         log,
	}, nil
}

// logChain logs each member of chain, in order, at start: the built-in
// filters by name, then each external milter with its address, default
// action and timeouts, and its connection reuse when it is on. chain
// must come from buildChain(cfg, ...).
func logChain(log *slog.Logger, cfg *config.Config, chain *filter.Chain) {
	members := chain.Filters()
	builtin := len(members) - len(cfg.Milters)
	if len(members) == 0 {
		log.Warn("the filter chain is empty: every message is accepted as it is")
	}
	for i, f := range members[:builtin] {
		log.Info("chain member", "position", i+1, "kind", "built-in", "name", filter.NameOf(f))
	}
	for i, mc := range cfg.Milters {
		args := []any{"position", builtin + i + 1, "kind", "milter", "name", mc.Name,
			"address", mc.Address.Spec, "default_action", mc.DefaultAction,
			"connect_timeout", mc.ConnectTimeout, "command_timeout", mc.CommandTimeout, "eom_timeout", mc.EOMTimeout}
		if mc.MaxIdleConns > 0 {
			args = append(args, "max_idle_conns", mc.MaxIdleConns, "idle_timeout", mc.IdleTimeout)
		}
		log.Info("chain member", args...)
	}
}
