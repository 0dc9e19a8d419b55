package main

import (
	"fmt"
	"net/netip"

	"github.com/sluice-mta/sluice/config"
	"github.com/sluice-mta/sluice/filter/ratelimit"
)

// newRateLimit builds [filters.ratelimit]. config has checked every key,
// so an error here is one the filter alone judges (a window too short
// for its counts); it names the file and the table.
func newRateLimit(cfg *config.Config, r *config.RateLimitFilter) (*ratelimit.Filter, error) {
	f, err := ratelimit.New(rateLimitOptions(r))
	if err != nil {
		return nil, &exitErr{code: exitError, err: fmt.Errorf("%s: filters.ratelimit: %w", cfgName(cfg), err)}
	}
	return f, nil
}

func rateLimitOptions(r *config.RateLimitFilter) ratelimit.Options {
	exempt := r.ExemptNetworks
	if exempt == nil {
		exempt = []netip.Prefix{} // an empty list in the file exempts nobody
	}
	return ratelimit.Options{
		Connections: r.Connections, Messages: r.Messages, Recipients: r.Recipients,
		Window: r.Window, IPv6Prefix: r.IPv6Prefix, MaxClients: r.MaxClients,
		ExemptNetworks: exempt, ExemptAuthenticated: r.ExemptAuthenticated,
	}
}
