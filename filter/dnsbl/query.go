package dnsbl

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
)

// Resolver looks up the A records of a DNS name. *net.Resolver
// implements it. A name that does not exist, or has no A record, must
// come back as a *net.DNSError whose IsNotFound is true: that is "not
// listed". Any other error is a lookup failure.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

const hexDigits = "0123456789abcdef"

// queryName is the name to look up for a in zone (RFC 5782 §2.1, §2.4):
// the IPv4 octets or the 32 IPv6 nibbles in reverse order, then the zone,
// then a final dot so that no search domain is tried.
func queryName(a netip.Addr, zone string) string {
	var b strings.Builder
	b.Grow(64 + len(zone) + 1)
	if a.Is4() {
		o := a.As4()
		for i := 3; i >= 0; i-- {
			writeDecimal(&b, o[i])
			b.WriteByte('.')
		}
	} else {
		o := a.As16()
		for i := 15; i >= 0; i-- {
			b.WriteByte(hexDigits[o[i]&0xf])
			b.WriteByte('.')
			b.WriteByte(hexDigits[o[i]>>4])
			b.WriteByte('.')
		}
	}
	b.WriteString(zone)
	b.WriteByte('.')
	return b.String()
}

func writeDecimal(b *strings.Builder, v byte) {
	if v >= 100 {
		b.WriteByte('0' + v/100)
	}
	if v >= 10 {
		b.WriteByte('0' + v/10%10)
	}
	b.WriteByte('0' + v%10)
}

// answer is the outcome of one zone name's lookup.
type answer struct {
	addrs []netip.Addr
	err   error // nil also when the name does not exist
}

// lookupAll looks a up in every distinct zone name at once and returns
// the answers by name. ctx bounds it: a lookup still running when ctx
// ends counts as failed, with ctx's error.
func (f *Filter) lookupAll(ctx context.Context, a netip.Addr) map[string]answer {
	type named struct {
		name string
		answer
	}
	ch := make(chan named, len(f.names)) // buffered: a late lookup never blocks
	for _, name := range f.names {
		go func() {
			addrs, err := f.resolver.LookupNetIP(ctx, "ip4", queryName(a, name))
			if dnsErr, ok := errors.AsType[*net.DNSError](err); ok && dnsErr.IsNotFound {
				addrs, err = nil, nil
			}
			ch <- named{name, answer{addrs, err}}
		}()
	}
	out := make(map[string]answer, len(f.names))
	for len(out) < len(f.names) {
		select {
		case n := <-ch:
			out[n.name] = n.answer
		case <-ctx.Done():
			for _, name := range f.names {
				if _, done := out[name]; !done {
					out[name] = answer{err: ctx.Err()}
				}
			}
		}
	}
	return out
}
