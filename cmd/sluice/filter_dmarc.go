package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"

	"github.com/sluice-mta/sluice/config"
	"github.com/sluice-mta/sluice/filter/dmarc"
)

// newDMARC builds [filters.dmarc]. It reads the results of [filters.dkim]
// and [filters.spf], which run before it: their absence (or dkim's
// verify = false, spf's received_spf = false) makes it ignore the fields
// they would have written, which only a client could then have put
// there. Errors name the file and key.
func newDMARC(cfg *config.Config, d *config.DMARCFilter, log *slog.Logger) (*dmarc.Filter, error) {
	o := dmarcOptions(cfg, d)
	o.Logger = log
	file := cfgName(cfg)
	if dk := cfg.Filters.DKIM; dk != nil && dk.Verify {
		if id := dkimAuthservID(cfg, dk); id != o.AuthservID {
			return nil, &exitErr{code: exitError, err: &config.FieldError{Source: file, Key: "filters.dmarc.authserv_id",
				Msg: fmt.Sprintf("%q differs from the authserv-id of filters.dkim, %q, whose results DMARC reads", o.AuthservID, id)}}
		}
	}
	f, err := dmarc.New(o)
	if err != nil {
		return nil, &exitErr{code: exitError, err: dmarcErrors(file, err)}
	}
	return f, nil
}

// dkimAuthservID is the authserv-id [filters.dkim] writes.
func dkimAuthservID(cfg *config.Config, dk *config.DKIMFilter) string {
	if dk.AuthservID != "" {
		return dk.AuthservID
	}
	return cfg.Hostname
}

func dmarcOptions(cfg *config.Config, d *config.DMARCFilter) dmarc.Options {
	skip := d.SkipNetworks
	if skip == nil {
		skip = []netip.Prefix{} // an empty list in the file evaluates every client
	}
	dk, sp := cfg.Filters.DKIM, cfg.Filters.SPF
	id := d.AuthservID
	if id == "" && dk != nil {
		id = dkimAuthservID(cfg, dk)
	}
	if id == "" {
		id = cfg.Hostname
	}
	o := dmarc.Options{
		AuthservID: id, Enforce: d.Enforce, DNSError: d.DNSError, SkipNetworks: skip, Timeout: d.Timeout,
		IgnoreAuthResults: dk == nil || !dk.Verify,
		IgnoreReceivedSPF: sp == nil || !sp.ReceivedSPF,
	}
	if d.Resolver != "" {
		o.Resolver = serverResolver(d.Resolver)
	}
	return o
}

// dmarcErrors names the file and key of each option dmarc.New refused.
func dmarcErrors(file string, err error) error {
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	out := make([]error, 0, len(errs))
	for _, e := range errs {
		var oe *dmarc.OptionError
		if !errors.As(e, &oe) {
			out = append(out, fmt.Errorf("%s: filters.dmarc: %w", file, e))
			continue
		}
		out = append(out, &config.FieldError{Source: file, Key: "filters.dmarc." + oe.Key, Msg: oe.Err.Error()})
	}
	return errors.Join(out...)
}
