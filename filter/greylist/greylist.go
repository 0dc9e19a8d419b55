package greylist

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/sluice-mta/sluice/filter"
)

// Defaults of the zero Options.
const (
	DefaultDelay              = 5 * time.Minute
	DefaultRetryWindow        = 48 * time.Hour
	DefaultExpire             = 35 * 24 * time.Hour
	DefaultAutoWhitelistCount = 5
	DefaultIPv4Prefix         = 24
	DefaultIPv6Prefix         = 64
	DefaultMaxEntries         = 100000
	DefaultSaveInterval       = time.Minute
)

// Options configures the filter. The zero value greylists every client
// with the defaults above, whitelists nothing and keeps its state in
// memory only.
type Options struct {
	Delay       time.Duration // a retry passes this long after the first attempt; default 5m
	RetryWindow time.Duration // a retry later than this is a first attempt again; default 48h
	Expire      time.Duration // a passed triplet or whitelisted network is forgotten this long after it was last seen; default 35d
	// AutoWhitelistCount whitelists a client network once it has passed
	// this many messages; 0: the default, 5; negative: never.
	AutoWhitelistCount int
	IPv4Prefix         int // bits of an IPv4 client network, 1–32; default 24
	IPv6Prefix         int // bits of an IPv6 client network, 1–128; default 64

	WhitelistNetworks   []netip.Prefix // clients never greylisted
	WhitelistRecipients []string       // address patterns, see the package documentation
	WhitelistSenders    []string       // address patterns; "<>" is the null sender

	// ReplyAtData refuses the whole message at its end instead of each
	// unknown recipient at RCPT.
	ReplyAtData bool

	StateFile    string        // JSON state file; "" keeps the state in memory only
	MaxEntries   int           // triplets (and networks) kept; default 100000
	SaveInterval time.Duration // how often StateFile is written; default 1m

	Now    func() time.Time // the clock; default time.Now
	Logger *slog.Logger     // default slog.Default()
}

// OptionError is one invalid option. Key is the option's name as a
// configuration file writes it ("delay", "whitelist_senders[2]"), so a
// program can name its own key.
type OptionError struct {
	Key string
	Err error
}

func (e *OptionError) Error() string { return "filter/greylist: " + e.Key + ": " + e.Err.Error() }

func (e *OptionError) Unwrap() error { return e.Err }

// Filter greylists mail. It is safe for concurrent use; Close writes the
// state file a last time and stops the periodic writes.
type Filter struct {
	opts  Options
	st    *store
	white []netip.Prefix
	rcpts []pattern
	sends []pattern
	needs filter.Needs
	log   *slog.Logger

	saveMu    sync.Mutex // one write of the state file at a time
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// New validates opts, loads the state file if there is one and starts
// the periodic writes. Every invalid option is reported as an
// *OptionError; several are joined with errors.Join.
func New(opts Options) (*Filter, error) {
	opts, errs := withDefaults(opts)
	f := &Filter{opts: opts, log: opts.Logger}
	for i, p := range opts.WhitelistNetworks {
		if !p.IsValid() {
			errs = append(errs, &OptionError{fmt.Sprintf("whitelist_networks[%d]", i), errors.New("invalid network")})
			continue
		}
		f.white = append(f.white, unmapPrefix(p))
	}
	f.rcpts = compilePatterns("whitelist_recipients", opts.WhitelistRecipients, false, &errs)
	f.sends = compilePatterns("whitelist_senders", opts.WhitelistSenders, true, &errs)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	f.st = newStore(storeLimits{
		delay: opts.Delay, retry: opts.RetryWindow, expire: opts.Expire,
		awl: opts.AutoWhitelistCount, max: opts.MaxEntries,
	})
	f.needs = computeNeeds(opts.ReplyAtData)
	if opts.StateFile != "" {
		if err := f.load(); err != nil {
			return nil, err
		}
		f.stop, f.done = make(chan struct{}), make(chan struct{})
		go f.saver()
	}
	return f, nil
}

// withDefaults fills the zero options and checks the ranges.
func withDefaults(o Options) (Options, []error) {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, &OptionError{key, fmt.Errorf(format, args...)})
	}
	durations := []struct {
		key string
		d   *time.Duration
		def time.Duration
	}{
		{"delay", &o.Delay, DefaultDelay}, {"retry_window", &o.RetryWindow, DefaultRetryWindow},
		{"expire", &o.Expire, DefaultExpire}, {"save_interval", &o.SaveInterval, DefaultSaveInterval},
	}
	for _, d := range durations {
		switch {
		case *d.d == 0:
			*d.d = d.def
		case *d.d < 0:
			bad(d.key, "must be > 0, got %v", *d.d)
		}
	}
	if o.RetryWindow <= o.Delay && o.RetryWindow > 0 {
		bad("retry_window", "must be longer than delay (%v), got %v", o.Delay, o.RetryWindow)
	}
	if o.AutoWhitelistCount == 0 {
		o.AutoWhitelistCount = DefaultAutoWhitelistCount
	}
	o.IPv4Prefix = prefixBits(o.IPv4Prefix, DefaultIPv4Prefix, 32, "ipv4_prefix", bad)
	o.IPv6Prefix = prefixBits(o.IPv6Prefix, DefaultIPv6Prefix, 128, "ipv6_prefix", bad)
	switch {
	case o.MaxEntries == 0:
		o.MaxEntries = DefaultMaxEntries
	case o.MaxEntries < 0:
		bad("max_entries", "must be > 0, got %d", o.MaxEntries)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o, errs
}

func prefixBits(n, def, maxBits int, key string, bad func(string, string, ...any)) int {
	switch {
	case n == 0:
		return def
	case n < 0 || n > maxBits:
		bad(key, "must be 1 to %d, got %d", maxBits, n)
	}
	return n
}

// computeNeeds: connect for the client's address, MAIL for the sender and
// {auth_authen}, RCPT for each triplet and, with ReplyAtData, end of
// message for the verdict. Connect and MAIL never answer; RCPT does not
// either when the verdict waits for end of message.
func computeNeeds(atData bool) filter.Needs {
	used := filter.Stages(filter.StageConnect, filter.StageMail, filter.StageRcpt)
	noReply := filter.Stages(filter.StageConnect, filter.StageMail)
	if atData {
		used |= filter.Stages(filter.StageEndOfMessage)
		noReply |= filter.Stages(filter.StageRcpt)
	}
	return filter.Needs{
		Skip:    filter.AllStages &^ used,
		NoReply: noReply,
		Macros:  map[filter.Stage][]string{filter.StageMail: {"{auth_authen}"}},
	}
}

// Name implements filter.Named.
func (f *Filter) Name() string { return "greylist" }

// Needs implements filter.Filter.
func (f *Filter) Needs() filter.Needs { return f.needs }

// NewSession implements filter.Filter.
func (f *Filter) NewSession(_ context.Context, macros filter.Macros) (filter.Session, error) {
	if macros == nil {
		macros = filter.NoMacros
	}
	return &session{f: f, macros: macros}, nil
}

// Close stops the periodic writes and writes the state file a last time.
// Sessions may go on after Close: their triplets are kept in memory only.
// Calling Close again returns the first call's result.
func (f *Filter) Close() error {
	f.closeOnce.Do(func() {
		if f.stop == nil {
			return
		}
		close(f.stop)
		<-f.done
		f.closeErr = f.Save()
	})
	return f.closeErr
}

// saver writes the state file every SaveInterval until Close.
func (f *Filter) saver() {
	defer close(f.done)
	t := time.NewTicker(f.opts.SaveInterval)
	defer t.Stop()
	for {
		select {
		case <-f.stop:
			return
		case <-t.C:
			if err := f.Save(); err != nil {
				f.log.Warn("greylist: writing the state file", "file", f.opts.StateFile, "err", err)
			}
		}
	}
}

// clientNet returns the network a client address is greylisted as.
func (f *Filter) clientNet(a netip.Addr) netip.Prefix {
	a = a.Unmap()
	bits := f.opts.IPv6Prefix
	if a.Is4() {
		bits = f.opts.IPv4Prefix
	}
	p, _ := a.WithZone("").Prefix(bits)
	return p
}

// whitelisted reports whether a is in WhitelistNetworks.
func (f *Filter) whitelisted(a netip.Addr) bool { return filter.Networks(f.white).Contains(a) }

func unmapPrefix(p netip.Prefix) netip.Prefix {
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(a.Unmap(), p.Bits()-96).Masked()
	}
	return p.Masked()
}
