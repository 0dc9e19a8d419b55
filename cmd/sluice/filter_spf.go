package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"

	"github.com/sluice-mta/sluice/config"
	"github.com/sluice-mta/sluice/filter/spf"
)

// newSPF builds [filters.spf]. config has checked every key, so an error
// here is one the filter alone judges; it names the file and the table.
func newSPF(cfg *config.Config, s *config.SPFFilter, log *slog.Logger) (*spf.Filter, error) {
	o := spfOptions(s)
	o.Logger = log
	f, err := spf.New(o)
	if err != nil {
		return nil, &exitErr{code: exitError, err: fmt.Errorf("%s: filters.spf: %w", cfgName(cfg), err)}
	}
	return f, nil
}

func spfOptions(s *config.SPFFilter) spf.Options {
	skip := s.SkipNetworks
	if skip == nil {
		skip = []netip.Prefix{} // an empty list in the file checks every client
	}
	o := spf.Options{
		FailAction: s.FailAction, SoftFailAction: s.SoftFailAction,
		TempErrorAction: s.TempErrorAction, PermErrorAction: s.PermErrorAction,
		NoHeader: !s.ReceivedSPF, Timeout: s.Timeout, SkipNetworks: skip,
	}
	if s.Resolver != "" {
		o.Resolver = serverResolver(s.Resolver)
	}
	return o
}

// serverResolver is a resolver that asks the DNS server at addr
// ("ip:port") only, over UDP (TCP when an answer is truncated): the
// filters' resolver keys.
func serverResolver(addr string) *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
}
