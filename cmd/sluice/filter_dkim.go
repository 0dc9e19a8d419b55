package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"

	"github.com/sluice-mta/sluice/config"
	"github.com/sluice-mta/sluice/filter/dkim"
)

// newDKIM builds [filters.dkim], reading its key files. The filter's
// errors name the file and key: "sluice.toml: filters.dkim.keys[1].key_file: …".
// It logs through log (New's warnings: a key file readable by everyone, a
// short RSA key; and a line per message).
func newDKIM(cfg *config.Config, d *config.DKIMFilter, log *slog.Logger) (*dkim.Filter, error) {
	o := dkimOptions(cfg, d)
	o.Logger = log
	f, err := dkim.New(o)
	if err != nil {
		return nil, &exitErr{code: exitError, err: dkimErrors(cfgName(cfg), err)}
	}
	return f, nil
}

func dkimOptions(cfg *config.Config, d *config.DKIMFilter) dkim.Options {
	networks := d.SignNetworks
	if networks == nil {
		networks = []netip.Prefix{} // an empty list in the file signs for no network
	}
	o := dkim.Options{
		NoVerify: !d.Verify, AuthservID: d.AuthservID, Hostname: cfg.Hostname,
		RejectOnFail: d.RejectOnFail, TempFailDNS: d.DNSError == "tempfail",
		SignNetworks: networks, NoSignAuthenticated: !d.SignAuthenticated, SignHeaders: d.SignHeaders,
		MaxMessageBytes: d.MaxMessageBytes, Timeout: d.Timeout,
	}
	for _, k := range d.Keys {
		o.Keys = append(o.Keys, dkim.Key{Domain: k.Domain, Selector: k.Selector, KeyFile: k.KeyFile})
	}
	if d.Resolver != "" {
		o.Resolver = serverResolver(d.Resolver)
	}
	return o
}

// dkimErrors names the file and key of each option dkim.New refused.
func dkimErrors(file string, err error) error {
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	out := make([]error, 0, len(errs))
	for _, e := range errs {
		var oe *dkim.OptionError
		if !errors.As(e, &oe) {
			out = append(out, fmt.Errorf("%s: filters.dkim: %w", file, e))
			continue
		}
		out = append(out, &config.FieldError{Source: file, Key: "filters.dkim." + oe.Key, Msg: oe.Err.Error()})
	}
	return errors.Join(out...)
}
