package main

import (
	"fmt"

	"github.com/sluice-mta/sluice/config"
	"github.com/sluice-mta/sluice/filter"
	"github.com/sluice-mta/sluice/filter/access"
	"github.com/sluice-mta/sluice/filter/headers"
)

// buildFilters turns the [filters] tables into filters, in a fixed order:
// access first (a rejected message needs no header work), then headers.
// Errors name the configuration file and key.
func buildFilters(cfg *config.Config) ([]filter.Filter, error) {
	var out []filter.Filter
	if a := cfg.Filters.Access; a != nil {
		f, err := access.New(accessOptions(a))
		if err != nil {
			return nil, fmt.Errorf("%s: filters.access: %w", cfgName(cfg), err)
		}
		out = append(out, f)
	}
	if h := cfg.Filters.Headers; h != nil {
		f, err := headers.New(headersOptions(h))
		if err != nil {
			return nil, fmt.Errorf("%s: filters.headers: %w", cfgName(cfg), err)
		}
		out = append(out, f)
	}
	return out, nil
}

func cfgName(cfg *config.Config) string {
	if cfg.File == "" {
		return "embedded defaults"
	}
	return cfg.File
}

func accessOptions(a *config.AccessFilter) access.Options {
	var o access.Options
	for _, r := range a.Rules {
		o.Rules = append(o.Rules, access.Rule{
			Client: r.Client, Helo: r.HELO, Sender: r.Sender, Recipient: r.Recipient,
			Action: r.Action, Reply: r.Reply, Reason: r.Reason,
		})
	}
	return o
}

func headersOptions(h *config.HeadersFilter) headers.Options {
	o := headers.Options{Remove: h.Remove}
	for _, f := range h.Add {
		o.Add = append(o.Add, headers.Header{Name: f.Name, Value: f.Value})
	}
	return o
}
