package spf

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/sluice-mta/sluice/filter"
)

// DefaultTimeout bounds one check when Options.Timeout is zero: RFC 7208
// §4.6.4 advises at least 20 seconds for the whole evaluation.
const DefaultTimeout = 20 * time.Second

// Resolver is the DNS a check uses. *net.Resolver implements it. Errors
// other than *net.DNSError are taken as temporary failures.
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
	LookupAddr(ctx context.Context, addr string) ([]string, error)
}

// Options configures the filter. The zero value checks every non-loopback
// client with the system resolver, rejects "fail", tags "softfail",
// temporarily fails "temperror", lets "permerror" through and adds
// Received-SPF.
type Options struct {
	// FailAction is "reject" (550 5.7.23; the default when empty) or
	// "tag" (let through, with the header).
	FailAction string
	// SoftFailAction is "tag" (the default) or "tempfail" (451 4.7.23).
	SoftFailAction string
	// TempErrorAction is "tempfail" (451 4.7.24; the default) or
	// "accept".
	TempErrorAction string
	// PermErrorAction is "accept" (the default) or "reject" (550 5.7.24).
	PermErrorAction string

	// NoHeader turns the Received-SPF header field off.
	NoHeader bool
	// Receiver is the receiver= of Received-SPF and the host named in
	// its comment. Empty: the host name the MTA gives at connect (macro
	// j); none when that is empty too.
	Receiver string

	// Timeout bounds one check, all its lookups together. Zero:
	// DefaultTimeout.
	Timeout time.Duration
	// SkipNetworks are clients never checked. Nil: loopback
	// (127.0.0.0/8 and ::1/128); an empty non-nil slice checks every
	// client. IPv4-mapped IPv6 clients are compared as IPv4.
	SkipNetworks []netip.Prefix

	// Resolver answers the lookups. Nil: net.DefaultResolver.
	Resolver Resolver
	// Logger receives one line per check. Nil: no logs.
	Logger *slog.Logger
}

// OptionError is a refused option: Key is the option's snake_case name
// ("fail_action", "timeout"), as a configuration file would spell it.
type OptionError struct {
	Key string
	Err error
}

func (e *OptionError) Error() string { return "filter/spf: " + e.Key + ": " + e.Err.Error() }
func (e *OptionError) Unwrap() error { return e.Err }

// Filter checks SPF. It is safe for concurrent use.
type Filter struct {
	fail, softfail, temperror, permerror action
	header                               bool
	receiver                             string
	timeout                              time.Duration
	skip                                 filter.Networks
	resolver                             Resolver
	log                                  *slog.Logger
	needs                                filter.Needs
}

// New validates opts and returns the filter. Every bad option is
// reported, each as an *OptionError, joined with errors.Join.
func New(opts Options) (*Filter, error) {
	f := &Filter{header: !opts.NoHeader, receiver: opts.Receiver, timeout: opts.Timeout,
		resolver: opts.Resolver, log: opts.Logger}
	var errs []error
	bad := func(key string, err error) { errs = append(errs, &OptionError{Key: key, Err: err}) }
	var err error
	if f.fail, err = parseAction(opts.FailAction, actReject, actReject, actTag); err != nil {
		bad("fail_action", err)
	}
	if f.softfail, err = parseAction(opts.SoftFailAction, actTag, actTag, actTempFail); err != nil {
		bad("softfail_action", err)
	}
	if f.temperror, err = parseAction(opts.TempErrorAction, actTempFail, actTempFail, actAccept); err != nil {
		bad("temperror_action", err)
	}
	if f.permerror, err = parseAction(opts.PermErrorAction, actAccept, actAccept, actReject); err != nil {
		bad("permerror_action", err)
	}
	if err := checkReceiver(opts.Receiver); err != nil {
		bad("receiver", err)
	}
	switch {
	case f.timeout < 0:
		bad("timeout", fmt.Errorf("must be > 0, got %s", f.timeout))
	case f.timeout == 0:
		f.timeout = DefaultTimeout
	}
	if f.skip, err = filter.NewNetworks(opts.SkipNetworks, filter.Loopback()); err != nil {
		bad("skip_networks", err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if f.resolver == nil {
		f.resolver = net.DefaultResolver
	}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	f.needs = f.computeNeeds()
	return f, nil
}

// computeNeeds: connect and HELO only record facts, MAIL answers, end of
// message inserts the header.
func (f *Filter) computeNeeds() filter.Needs {
	used := filter.Stages(filter.StageConnect, filter.StageHelo, filter.StageMail)
	n := filter.Needs{
		NoReply: filter.Stages(filter.StageConnect, filter.StageHelo),
		Macros:  map[filter.Stage][]string{filter.StageMail: {"{auth_authen}"}},
	}
	if f.header {
		used |= filter.Stages(filter.StageEndOfMessage)
		n.Edits = filter.EditAddHeader | filter.EditInsertHeader
	}
	n.Skip = filter.AllStages &^ used
	return n
}

// Name implements filter.Named.
func (f *Filter) Name() string { return "spf" }

// Needs implements filter.Filter.
func (f *Filter) Needs() filter.Needs { return f.needs }

// NewSession implements filter.Filter.
func (f *Filter) NewSession(_ context.Context, macros filter.Macros) (filter.Session, error) {
	if macros == nil {
		macros = filter.NoMacros
	}
	return &session{f: f, macros: macros}, nil
}
