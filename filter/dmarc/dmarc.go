package dmarc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/sluice-mta/sluice/filter"
)

// DefaultTimeout bounds the record lookups of one message when
// Options.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// Resolver is the DNS the filter asks for DMARC records. *net.Resolver
// implements it. A *net.DNSError with IsNotFound means no record; any
// other error is a temporary failure.
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

// Options configures the filter. Only AuthservID is required; the zero
// value of the others tags failing mail, lets it through on DNS failures,
// skips loopback and uses the system resolver.
type Options struct {
	// AuthservID is the authserv-id of the Authentication-Results fields
	// read (the DKIM verifier's) and written. Required.
	AuthservID string
	// Enforce refuses (p=reject: 550 5.7.1) or quarantines
	// (p=quarantine) failing mail. False: only the header field.
	Enforce bool
	// DNSError is what a temperror does: "accept" (the default when
	// empty) or "tempfail" (451 4.4.3).
	DNSError string
	// SkipNetworks are clients never evaluated. Nil: loopback
	// (127.0.0.0/8 and ::1/128); an empty non-nil slice skips none.
	SkipNetworks []netip.Prefix
	// Timeout bounds the record lookups of one message. Zero:
	// DefaultTimeout.
	Timeout time.Duration
	// IgnoreAuthResults ignores the Authentication-Results fields: use
	// it when no DKIM verifier runs before the filter, so a client's
	// forged field is not believed. DKIM then never aligns.
	IgnoreAuthResults bool
	// IgnoreReceivedSPF ignores Received-SPF fields: use it when no SPF
	// check runs before the filter. SPF then never aligns.
	IgnoreReceivedSPF bool
	// Resolver answers the lookups. Nil: net.DefaultResolver.
	Resolver Resolver
	// Logger receives one line per evaluated message. Nil: no logs.
	Logger *slog.Logger
}

// OptionError is a refused option: Key is its snake_case name
// ("authserv_id", "on_dns_error"), as a configuration file spells it.
type OptionError struct {
	Key string
	Err error
}

func (e *OptionError) Error() string { return "filter/dmarc: " + e.Key + ": " + e.Err.Error() }
func (e *OptionError) Unwrap() error { return e.Err }

// Filter evaluates DMARC. It is safe for concurrent use.
type Filter struct {
	authservID  string
	enforce     bool
	tempfail    bool
	skip        filter.Networks
	timeout     time.Duration
	ignoreAR    bool
	ignoreSPF   bool
	resolver    Resolver
	log         *slog.Logger
	needs       filter.Needs
	sampleBelow func(pct int) bool // reports whether a message falls in pct percent
}

// New validates opts and returns the filter. Every bad option is
// reported, each as an *OptionError, joined with errors.Join.
func New(opts Options) (*Filter, error) {
	f := &Filter{authservID: opts.AuthservID, enforce: opts.Enforce, timeout: opts.Timeout,
		ignoreAR: opts.IgnoreAuthResults, ignoreSPF: opts.IgnoreReceivedSPF,
		resolver: opts.Resolver, log: opts.Logger, sampleBelow: sample}
	var errs []error
	bad := func(key string, err error) { errs = append(errs, &OptionError{Key: key, Err: err}) }
	if err := checkToken(opts.AuthservID); err != nil {
		bad("authserv_id", err)
	}
	switch strings.ToLower(opts.DNSError) {
	case "", "accept":
	case "tempfail":
		f.tempfail = true
	default:
		bad("on_dns_error", fmt.Errorf("unknown action %q (want accept or tempfail)", opts.DNSError))
	}
	switch {
	case f.timeout < 0:
		bad("timeout", fmt.Errorf("must be > 0, got %s", f.timeout))
	case f.timeout == 0:
		f.timeout = DefaultTimeout
	}
	var err error
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

// checkToken accepts an RFC 2045 token, the authserv-id as a bare value.
func checkToken(s string) error {
	if s == "" {
		return errors.New("empty (set it to the DKIM verifier's, usually the host name)")
	}
	for _, c := range []byte(s) {
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?=`, c) >= 0 {
			return fmt.Errorf("%q: want a host name or another token without spaces or ()<>@,;:\\\"/[]?=", s)
		}
	}
	return nil
}

// computeNeeds: connect and MAIL decide who is skipped, the header
// fields are read, end of message evaluates and adds the field.
func (f *Filter) computeNeeds() filter.Needs {
	used := filter.Stages(filter.StageConnect, filter.StageMail, filter.StageHeader, filter.StageEndOfMessage)
	n := filter.Needs{
		Skip:    filter.AllStages &^ used,
		NoReply: filter.Stages(filter.StageHeader),
		Edits:   filter.EditAddHeader | filter.EditInsertHeader,
		Macros: map[filter.Stage][]string{
			filter.StageMail:         {"{auth_authen}"},
			filter.StageEndOfMessage: {"i"},
		},
	}
	if f.enforce {
		n.Edits |= filter.EditQuarantine
	}
	return n
}

// Name implements filter.Named.
func (f *Filter) Name() string { return "dmarc" }

// Needs implements filter.Filter.
func (f *Filter) Needs() filter.Needs { return f.needs }

// NewSession implements filter.Filter.
func (f *Filter) NewSession(_ context.Context, macros filter.Macros) (filter.Session, error) {
	if macros == nil {
		macros = filter.NoMacros
	}
	return &session{f: f, macros: macros}, nil
}
