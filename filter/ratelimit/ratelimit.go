package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/sluice-mta/sluice/filter"
)

// Defaults of the zero Options.
const (
	DefaultWindow     = time.Minute
	DefaultIPv6Prefix = 64
	DefaultMaxClients = 100000
)

// Options configures the filter. The zero value limits nothing.
type Options struct {
	// Connections, Messages and Recipients are how many connections,
	// MAIL commands and RCPT commands a client may make per Window;
	// 0 is no limit.
	Connections int
	Messages    int
	Recipients  int
	// Window is the time the counts are per; 0: DefaultWindow (1m).
	Window time.Duration
	// IPv6Prefix is how many leading bits of an IPv6 address name one
	// client, 1 to 128; 0: DefaultIPv6Prefix (64). IPv4 clients are
	// counted per address.
	IPv6Prefix int
	// MaxClients bounds how many clients are tracked at once; 0:
	// DefaultMaxClients.
	MaxClients int
	// ExemptNetworks are never limited. nil: loopback
	// (filter.Loopback); an empty, non-nil slice exempts no network.
	ExemptNetworks []netip.Prefix
	// ExemptAuthenticated skips the message and recipient limits for a
	// session that has authenticated (its {auth_authen} macro is set).
	ExemptAuthenticated bool
	// Now is the clock; nil: time.Now.
	Now func() time.Time
}

// Filter enforces the limits. It is safe for concurrent use: every
// session of every connection shares one table of clients.
type Filter struct {
	rates      [numKinds]rate
	v6bits     int
	exempt     []netip.Prefix
	exemptAuth bool
	now        func() time.Time
	epoch      time.Time // the table's times are nanoseconds since epoch
	table      *table
	needs      filter.Needs
}

// New checks opts and returns the filter. Every problem is reported;
// several are joined with errors.Join.
func New(opts Options) (*Filter, error) {
	o, err := withDefaults(opts)
	if err != nil {
		return nil, err
	}
	f := &Filter{
		v6bits: o.IPv6Prefix, exemptAuth: o.ExemptAuthenticated,
		now: o.Now, epoch: o.Now(), table: newTable(o.MaxClients),
	}
	for _, p := range o.ExemptNetworks {
		f.exempt = append(f.exempt, unmapPrefix(p))
	}
	f.rates[kindConn] = newRate(o.Connections, o.Window)
	f.rates[kindMail] = newRate(o.Messages, o.Window)
	f.rates[kindRcpt] = newRate(o.Recipients, o.Window)
	f.needs = f.computeNeeds()
	return f, nil
}

// withDefaults fills the zero fields of o and checks the rest.
func withDefaults(o Options) (Options, error) {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("filter/ratelimit: "+format, args...))
	}
	for _, c := range []struct {
		name string
		n    int
	}{{"Connections", o.Connections}, {"Messages", o.Messages}, {"Recipients", o.Recipients}} {
		if c.n < 0 {
			bad("%s must be >= 0, got %d", c.name, c.n)
		}
	}
	if o.Window == 0 {
		o.Window = DefaultWindow
	}
	if o.Window < 0 {
		bad("Window must be > 0, got %v", o.Window)
	}
	for _, n := range []int{o.Connections, o.Messages, o.Recipients} {
		if n > 0 && o.Window > 0 && o.Window/time.Duration(n) == 0 {
			bad("Window %v is too short for %d events", o.Window, n)
			break
		}
	}
	if o.IPv6Prefix == 0 {
		o.IPv6Prefix = DefaultIPv6Prefix
	}
	if o.IPv6Prefix < 1 || o.IPv6Prefix > 128 {
		bad("IPv6Prefix must be 1 to 128, got %d", o.IPv6Prefix)
	}
	if o.MaxClients == 0 {
		o.MaxClients = DefaultMaxClients
	}
	if o.MaxClients < 0 {
		bad("MaxClients must be > 0, got %d", o.MaxClients)
	}
	if o.ExemptNetworks == nil {
		o.ExemptNetworks = filter.Loopback()
	}
	for i, p := range o.ExemptNetworks {
		switch {
		case !p.IsValid():
			bad("ExemptNetworks[%d] is not a valid network", i)
		case p.Masked() != p:
			bad("ExemptNetworks[%d]: network %s has host bits set (did you mean %s?)", i, p, p.Masked())
		}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o, errors.Join(errs...)
}

// unmapPrefix turns an IPv4-mapped IPv6 network (::ffff:192.0.2.0/120)
// into the IPv4 network it covers, since clients are compared unmapped.
func unmapPrefix(p netip.Prefix) netip.Prefix {
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p
}

// computeNeeds asks for connect when any limit is set (the client is
// learnt there), and for MAIL and RCPT when their limits are.
func (f *Filter) computeNeeds() filter.Needs {
	n := filter.Needs{Macros: map[filter.Stage][]string{}}
	var used filter.StageSet
	for k, st := range [numKinds]filter.Stage{filter.StageConnect, filter.StageMail, filter.StageRcpt} {
		if !f.rates[k].on() {
			continue
		}
		used |= filter.Stages(filter.StageConnect, st)
		if f.exemptAuth && st != filter.StageConnect {
			n.Macros[st] = []string{"{auth_authen}"}
		}
	}
	n.Skip = filter.AllStages &^ used
	if used != 0 && !f.rates[kindConn].on() {
		n.NoReply = filter.Stages(filter.StageConnect)
	}
	return n
}

// Name implements filter.Named.
func (f *Filter) Name() string { return "ratelimit" }

// Needs implements filter.Filter.
func (f *Filter) Needs() filter.Needs { return f.needs }

// NewSession implements filter.Filter.
func (f *Filter) NewSession(_ context.Context, macros filter.Macros) (filter.Session, error) {
	if macros == nil {
		macros = filter.NoMacros
	}
	return &session{f: f, macros: macros}, nil
}

// Tracked returns how many clients the filter tracks now; never more than
// Options.MaxClients.
func (f *Filter) Tracked() int { return f.table.len() }

// clock returns the time now as nanoseconds since the filter was built.
func (f *Filter) clock() int64 { return int64(f.now().Sub(f.epoch)) }

// isExempt reports whether addr (unmapped) is in an exempt network.
func (f *Filter) isExempt(addr netip.Addr) bool { return filter.Networks(f.exempt).Contains(addr) }

// keyOf names the client of addr (unmapped, without zone): the IPv4
// address, or the IPv6 network of its first v6bits bits.
func (f *Filter) keyOf(addr netip.Addr) clientKey {
	if addr.Is6() {
		p, _ := addr.Prefix(f.v6bits) // cannot fail: 1 <= v6bits <= 128
		addr = p.Addr()
	}
	return clientKey(addr.As16())
}
