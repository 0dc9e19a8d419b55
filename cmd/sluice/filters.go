package main

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/sluice-mta/sluice/config"
	"github.com/sluice-mta/sluice/filter"
	"github.com/sluice-mta/sluice/filter/access"
	"github.com/sluice-mta/sluice/filter/headers"
)

// buildFilters turns the [filters] tables into filters, in a fixed order:
// ratelimit, access, dnsbl, spf, greylist, headers, dkim, dmarc (see each
// block).
// The filters that log do so through log.
// Errors name the configuration file and key and, like config.Load's, are
// printed as they are, without the command's name before them.
func buildFilters(cfg *config.Config, log *slog.Logger) (_ []filter.Filter, err error) {
	var out []filter.Filter
	defer func() {
		if err != nil { // release what the filters built so far hold (greylist: its writer)
			_ = filter.NewChain(out...).Close()
		}
	}()
	if r := cfg.Filters.RateLimit; r != nil { // first: a client over its rate costs no other check
		f, err := newRateLimit(cfg, r)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	if a := cfg.Filters.Access; a != nil {
		f, err := access.New(accessOptions(a))
		if err != nil {
			return nil, &exitErr{code: exitError, err: accessErrors(cfgName(cfg), err)}
		}
		out = append(out, f)
	}
	if d := cfg.Filters.DNSBL; d != nil { // after access: a client it refuses costs no lookup
		f, err := newDNSBL(cfg, d, log)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	if s := cfg.Filters.SPF; s != nil { // after access and dnsbl: a refused client costs no SPF lookup
		f, err := newSPF(cfg, s, log)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	if g := cfg.Filters.Greylist; g != nil { // after access: refused mail is not greylisted
		f, err := newGreylist(cfg, g, log)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	if h := cfg.Filters.Headers; h != nil {
		f, err := headers.New(headersOptions(h))
		if err != nil {
			return nil, &exitErr{code: exitError, err: fmt.Errorf("%s: filters.headers: %w", cfgName(cfg), err)}
		}
		out = append(out, f)
	}
	// dkim last of the built-ins: its signature covers their header
	// edits. [[milters]] that edit after it may break the signature.
	if d := cfg.Filters.DKIM; d != nil {
		f, err := newDKIM(cfg, d, log)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	// dmarc after dkim: it reads the Authentication-Results dkim adds
	// (and Received-SPF). dkim signs only trusted or authenticated mail,
	// which dmarc does not evaluate.
	if d := cfg.Filters.DMARC; d != nil {
		f, err := newDMARC(cfg, d, log)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

// accessErrors names the file and key of each rule access.New refused,
// the way config names what it refuses itself:
// "sluice.toml: filters.access.rules[2].reply: …". The filter's rule
// indexes are the file's: config keeps every array entry, in order, or
// fails to load.
func accessErrors(file string, err error) error {
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	out := make([]error, 0, len(errs))
	for _, e := range errs {
		var re *access.RuleError
		if !errors.As(e, &re) {
			out = append(out, fmt.Errorf("%s: filters.access: %w", file, e))
			continue
		}
		key := fmt.Sprintf("filters.access.rules[%d]", re.Index)
		if re.Key != "" {
			key += "." + re.Key
		}
		out = append(out, &config.FieldError{Source: file, Key: key, Msg: re.Err.Error()})
	}
	return errors.Join(out...)
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
