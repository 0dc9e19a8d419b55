package filter

import (
	"fmt"
	"net/netip"
)

// Networks is a list of client networks a filter matches addresses
// against: the networks it skips, or trusts.
type Networks []netip.Prefix

// Loopback returns 127.0.0.0/8 and ::1/128, the networks the built-in
// filters skip unless configured otherwise.
func Loopback() Networks {
	return Networks{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
}

// NewNetworks checks nets and returns them normalised (IPv4-mapped
// networks as IPv4, host bits cleared); nil gives def, an empty non-nil
// list matches nothing. An invalid entry is an error naming its index.
func NewNetworks(nets []netip.Prefix, def Networks) (Networks, error) {
	if nets == nil {
		return def, nil
	}
	out := make(Networks, 0, len(nets))
	for i, p := range nets {
		if !p.IsValid() {
			return nil, fmt.Errorf("[%d]: not a valid network", i)
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// Contains reports whether a is in one of the networks. An IPv4-mapped
// IPv6 address matches as its IPv4 address, a zoned one without its zone.
func (n Networks) Contains(a netip.Addr) bool {
	a = a.Unmap().WithZone("")
	for _, p := range n {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
