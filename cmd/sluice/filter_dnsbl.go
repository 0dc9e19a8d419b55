package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"

	"github.com/sluice-mta/sluice/config"
	"github.com/sluice-mta/sluice/filter/dnsbl"
)

// newDNSBL builds [filters.dnsbl]. config has checked the shape of every
// key; the zone syntax and the reply are the filter's to judge, and each
// problem it finds is named by file and key:
// "sluice.toml: filters.dnsbl.zones[1]: …".
func newDNSBL(cfg *config.Config, d *config.DNSBLFilter, log *slog.Logger) (*dnsbl.Filter, error) {
	o := dnsblOptions(d)
	o.Logger = log
	f, err := dnsbl.New(o)
	if err != nil {
		return nil, &exitErr{code: exitError, err: dnsblErrors(cfgName(cfg), err)}
	}
	return f, nil
}

func dnsblOptions(d *config.DNSBLFilter) dnsbl.Options {
	skip := d.SkipNetworks
	if skip == nil {
		skip = []netip.Prefix{} // an empty list in the file skips nobody
	}
	return dnsbl.Options{
		Zones: d.Zones, Threshold: d.Threshold, Action: d.Action, Reply: d.Reply,
		RejectAt: d.RejectAt, Timeout: d.Timeout, SkipNetworks: skip,
		OnDNSError: d.OnDNSError, Server: d.Resolver,
	}
}

// dnsblErrors turns the filter's option names into the file's keys.
func dnsblErrors(file string, err error) error {
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	out := make([]error, 0, len(errs))
	for _, e := range errs {
		var oe *dnsbl.OptionError
		if !errors.As(e, &oe) {
			out = append(out, fmt.Errorf("%s: filters.dnsbl: %w", file, e))
			continue
		}
		key := oe.Key
		if key == "server" {
			key = "resolver"
		}
		out = append(out, &config.FieldError{Source: file, Key: "filters.dnsbl." + key, Msg: oe.Err.Error()})
	}
	return errors.Join(out...)
}
