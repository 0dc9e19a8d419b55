package main

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/sluice-mta/sluice/config"
	"github.com/sluice-mta/sluice/filter/greylist"
)

// newGreylist builds [filters.greylist]. config has checked the ranges;
// the whitelist patterns and the state file are the filter's to judge,
// and each of its refusals is named by file and key:
// "sluice.toml: filters.greylist.whitelist_senders[1]: …".
func newGreylist(cfg *config.Config, g *config.GreylistFilter, log *slog.Logger) (*greylist.Filter, error) {
	o := greylistOptions(g)
	o.Logger = log
	f, err := greylist.New(o)
	if err != nil {
		return nil, &exitErr{code: exitError, err: greylistErrors(cfgName(cfg), err)}
	}
	return f, nil
}

func greylistOptions(g *config.GreylistFilter) greylist.Options {
	awl := g.AutoWhitelistCount
	if awl == 0 {
		awl = -1 // 0 in the file turns auto-whitelisting off
	}
	return greylist.Options{
		Delay: g.Delay, RetryWindow: g.RetryWindow, Expire: g.Expire,
		AutoWhitelistCount: awl, IPv4Prefix: g.IPv4Prefix, IPv6Prefix: g.IPv6Prefix,
		WhitelistNetworks: g.WhitelistNetworks, WhitelistRecipients: g.WhitelistRecipients,
		WhitelistSenders: g.WhitelistSenders, ReplyAtData: g.ReplyAt == "data",
		StateFile: g.StateFile, MaxEntries: g.MaxEntries, SaveInterval: g.SaveInterval,
	}
}

func greylistErrors(file string, err error) error {
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	out := make([]error, 0, len(errs))
	for _, e := range errs {
		var oe *greylist.OptionError
		if !errors.As(e, &oe) {
			out = append(out, fmt.Errorf("%s: filters.greylist: %w", file, e))
			continue
		}
		out = append(out, &config.FieldError{Source: file, Key: "filters.greylist." + oe.Key, Msg: oe.Err.Error()})
	}
	return errors.Join(out...)
}
