package dnsbl

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/sluice-mta/sluice/filter"
)

// Defaults of the zero Options.
const (
	DefaultTimeout = 5 * time.Second
	// MaxTimeout bounds Options.Timeout: the client waits that long at
	// most for its greeting (or RCPT reply).
	MaxTimeout = 2 * time.Minute
	// HeaderName is the field the "tag" action adds.
	HeaderName = "X-DNSBL"
)

// Options configures the filter. Zones is required; every other field
// has a default.
type Options struct {
	// Zones are the lists, as "name[=codes][*weight]": "zen.spamhaus.org",
	// "zen.spamhaus.org=127.0.0.[2..11]", "bl.example=127.0.0.2,127.0.0.4*2".
	// See the package documentation.
	Zones []string
	// Threshold is the sum of the weights of the listing zones at which
	// the action applies; 0 means 1.
	Threshold int
	// Action is "reject" (the default when empty), "tempfail" or "tag".
	Action string
	// Reply is the reply to a reject or tempfail, "[code [enhanced] ]text"
	// with placeholders %a (client address), %z (listing zones), %r (the
	// answers that listed) and %% (a percent sign). Empty: "554 5.7.1
	// Service unavailable; client [%a] blocked using %z" (451 4.7.1 for
	// tempfail). Not for "tag".
	Reply string
	// RejectAt is "connect" (the default when empty) or "rcpt": answer at
	// each RCPT instead, as Postfix's smtpd_delay_reject does, so that the
	// client says whom it tried to mail before it is refused.
	RejectAt string
	// Timeout bounds the lookups of one client, all zones at once; 0
	// means DefaultTimeout. A lookup not answered in time has failed.
	Timeout time.Duration
	// SkipNetworks are the clients never looked up. nil means
	// loopback (filter.Loopback); an empty, non-nil slice skips none.
	SkipNetworks []netip.Prefix
	// OnDNSError is what a failed lookup that could change the verdict
	// does: "accept" (the default when empty) lets the client through,
	// "tempfail" refuses it temporarily.
	OnDNSError string
	// Resolver does the lookups. nil: a net.Resolver, asking Server when
	// it is set.
	Resolver Resolver
	// Server is the "host:port" of the DNS server the default resolver
	// asks, over UDP and TCP; empty: the system's (resolv.conf). Only
	// without Resolver.
	Server string
	// Logger receives one line per listed client and per failed lookup;
	// nil discards them.
	Logger *slog.Logger
}

// action is what a listing does.
type action uint8

const (
	actReject action = iota
	actTempFail
	actTag
)

// Filter checks clients against DNS blocklists. It is safe for concurrent
// use.
type Filter struct {
	zones           []zone
	names           []string // distinct zone names, in configured order
	threshold       int
	act             action
	reply           template // reject and tempfail
	dnsErr          template
	atRcpt          bool
	tempfailOnError bool
	timeout         time.Duration
	skip            []netip.Prefix
	resolver        Resolver
	log             *slog.Logger
	needs           filter.Needs
}

// New checks opts and returns the filter. It reports every problem, each
// an *OptionError; several are joined with errors.Join.
func New(opts Options) (*Filter, error) {
	f := &Filter{threshold: max(opts.Threshold, 1), timeout: opts.Timeout, log: opts.Logger}
	var errs []error
	errs = append(errs, f.setZones(opts.Zones)...)
	errs = append(errs, f.setChoices(opts)...)
	errs = append(errs, f.setReplies(opts.Reply)...)
	if opts.Threshold < 0 {
		errs = append(errs, optErr("threshold", "%d: want at least 1", opts.Threshold))
	}
	if f.timeout == 0 {
		f.timeout = DefaultTimeout
	}
	if f.timeout < 0 || f.timeout > MaxTimeout {
		errs = append(errs, optErr("timeout", "%v: want more than 0 and at most %v", opts.Timeout, MaxTimeout))
	}
	f.skip = filter.Loopback()
	if opts.SkipNetworks != nil {
		f.skip = slices.Clone(opts.SkipNetworks)
	}
	var err error
	if f.resolver, err = resolverFor(opts); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	f.needs = f.computeNeeds()
	return f, nil
}

// OptionError is a problem with one option. Key names it as a
// configuration file does: "zones[2]" (counting from 0), "threshold",
// "action", "reply", "reject_at", "timeout", "on_dns_error", "server".
type OptionError struct {
	Key string
	Err error
}

func (e *OptionError) Error() string { return e.Key + ": " + e.Err.Error() }
func (e *OptionError) Unwrap() error { return e.Err }

func optErr(key, format string, args ...any) error {
	return &OptionError{Key: key, Err: fmt.Errorf(format, args...)}
}

func (f *Filter) setZones(specs []string) []error {
	if len(specs) == 0 {
		return []error{optErr("zones", "want at least one zone")}
	}
	if len(specs) > maxZones {
		return []error{optErr("zones", "%d zones, over %d", len(specs), maxZones)}
	}
	var errs []error
	for i, s := range specs {
		z, err := parseZone(s)
		if err != nil {
			errs = append(errs, &OptionError{Key: fmt.Sprintf("zones[%d]", i), Err: fmt.Errorf("%q: %w", s, err)})
			continue
		}
		f.zones = append(f.zones, z)
		if !slices.Contains(f.names, z.name) {
			f.names = append(f.names, z.name)
		}
	}
	return errs
}

func (f *Filter) setChoices(opts Options) []error {
	var errs []error
	switch opts.Action {
	case "", "reject":
		f.act = actReject
	case "tempfail":
		f.act = actTempFail
	case "tag":
		f.act = actTag
	default:
		errs = append(errs, optErr("action", "%q: want reject, tempfail or tag", opts.Action))
	}
	switch opts.RejectAt {
	case "", "connect":
	case "rcpt":
		f.atRcpt = true
	default:
		errs = append(errs, optErr("reject_at", "%q: want connect or rcpt", opts.RejectAt))
	}
	switch opts.OnDNSError {
	case "", "accept":
	case "tempfail":
		f.tempfailOnError = true
	default:
		errs = append(errs, optErr("on_dns_error", "%q: want accept or tempfail", opts.OnDNSError))
	}
	return errs
}

func (f *Filter) setReplies(reply string) []error {
	f.dnsErr, _ = parseTemplate(dnsErrorReply, 451)
	def, code := defaultReject, 554
	if f.act == actTempFail {
		def, code = defaultTempFail, 451
	}
	if reply != "" && f.act == actTag {
		return []error{optErr("reply", "not for action tag, which only adds a header")}
	}
	if reply == "" {
		reply = def
	}
	t, err := parseTemplate(reply, code)
	if err != nil {
		return []error{&OptionError{Key: "reply", Err: fmt.Errorf("%q: %w", reply, err)}}
	}
	f.reply = t
	return nil
}

// resolverFor returns opts.Resolver, or a net.Resolver that asks
// opts.Server (or the system's servers).
func resolverFor(opts Options) (Resolver, error) {
	if opts.Resolver != nil {
		if opts.Server != "" {
			return nil, optErr("server", "not with a Resolver")
		}
		return opts.Resolver, nil
	}
	if opts.Server == "" {
		return net.DefaultResolver, nil
	}
	host, port, err := net.SplitHostPort(opts.Server)
	if err != nil || host == "" || port == "" {
		return nil, optErr("server", "%q: want host:port such as 127.0.0.1:53", opts.Server)
	}
	addr := opts.Server
	var d net.Dialer
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
	}, nil
}

// computeNeeds calls Connect (the lookups start there), Rcpt when the
// verdict waits for it, and end of message to tag.
func (f *Filter) computeNeeds() filter.Needs {
	replies := f.act != actTag || f.tempfailOnError
	used := filter.Stages(filter.StageConnect)
	var noReply filter.StageSet
	switch {
	case replies && f.atRcpt:
		used |= filter.Stages(filter.StageRcpt)
		noReply |= filter.Stages(filter.StageConnect)
	case !replies:
		noReply |= filter.Stages(filter.StageConnect)
	}
	n := filter.Needs{Macros: map[filter.Stage][]string{}} // the client comes from envelope.Conn
	if f.act == actTag {
		used |= filter.Stages(filter.StageEndOfMessage)
		noReply |= filter.Stages(filter.StageEndOfMessage)
		n.Edits = filter.EditAddHeader
	}
	n.Skip = filter.AllStages &^ used
	n.NoReply = noReply
	return n
}

// Name implements filter.Named.
func (f *Filter) Name() string { return "dnsbl" }

// Needs implements filter.Filter.
func (f *Filter) Needs() filter.Needs { return f.needs }

// NewSession implements filter.Filter.
func (f *Filter) NewSession(context.Context, filter.Macros) (filter.Session, error) {
	return &session{f: f}, nil
}
