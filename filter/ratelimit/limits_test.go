package ratelimit

import (
	"net/netip"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/filter"
)

func refusedConn(addr string) string {
	return "tempfail 421 4.7.0 Too many connections from [" + addr + "], slow down"
}

func refusedMail(addr string) string {
	return "tempfail 450 4.7.1 Too many messages from [" + addr + "], slow down"
}

func refusedRcpt(addr string) string {
	return "tempfail 450 4.7.1 Too many recipients from [" + addr + "], slow down"
}

const (
	cn = filter.StageConnect
	ml = filter.StageMail
	rc = filter.StageRcpt
)

// TestLimits plays scenarios against an injected clock: N at once, then
// one each Window/N, a refused event spending nothing.
func TestLimits(t *testing.T) {
	const a, b = "192.0.2.1", "192.0.2.2"
	tests := []struct {
		name  string
		o     Options
		steps []step
	}{
		{"connections", Options{Connections: 3, Window: time.Minute}, []step{
			{0, a, cn, cont}, {0, a, cn, cont}, {0, a, cn, cont},
			{0, a, cn, refusedConn(a)},
			{0, b, cn, cont}, // another client has its own bucket
			{19 * time.Second, a, cn, refusedConn(a)},
			{time.Second, a, cn, cont}, // 20s = Window/3: one token back
			{0, a, cn, refusedConn(a)},
			{time.Minute, a, cn, cont}, {0, a, cn, cont}, {0, a, cn, cont},
			{0, a, cn, refusedConn(a)},
		}},
		{"messages", Options{Messages: 2}, []step{ // default window 1m
			{0, a, cn, cont},
			{0, a, ml, cont}, {0, a, ml, cont}, {0, a, ml, refusedMail(a)},
			{29 * time.Second, a, ml, refusedMail(a)},
			{time.Second, a, ml, cont},
			{0, a, ml, refusedMail(a)},
			{0, a, cn, cont}, // connections are not limited
			{0, a, ml, refusedMail(a)},
			{time.Hour, a, ml, cont}, {0, a, ml, cont}, {0, a, ml, refusedMail(a)},
		}},
		{"refused spends nothing", Options{Messages: 1, Window: 10 * time.Second}, []step{
			{0, a, cn, cont}, {0, a, ml, cont},
			{time.Second, a, ml, refusedMail(a)}, {time.Second, a, ml, refusedMail(a)},
			{8 * time.Second, a, ml, cont},
		}},
		{"recipients", Options{Recipients: 3, Messages: 10, Window: time.Hour}, []step{
			{0, a, cn, cont}, {0, a, ml, cont},
			{0, a, rc, cont}, {0, a, rc, cont}, {0, a, rc, cont}, {0, a, rc, refusedRcpt(a)},
			{0, a, ml, cont}, // a refused recipient leaves the messages alone
			{0, a, rc, refusedRcpt(a)},
			{20 * time.Minute, a, rc, cont}, {0, a, rc, refusedRcpt(a)},
		}},
		{"each limit its own bucket", Options{Connections: 1, Messages: 1, Recipients: 1, Window: time.Hour}, []step{
			{0, a, cn, cont}, {0, a, ml, cont}, {0, a, rc, cont},
			{0, a, rc, refusedRcpt(a)}, {0, a, ml, refusedMail(a)}, {0, a, cn, refusedConn(a)},
		}},
		{"unix socket", Options{Connections: 1, Messages: 1}, []step{
			{0, "", cn, cont}, {0, "", cn, cont}, {0, "", ml, cont}, {0, "", ml, cont},
		}},
		{"clock going back", Options{Messages: 1, Window: time.Minute}, []step{
			{-time.Hour, a, cn, cont}, {0, a, ml, cont}, {0, a, ml, refusedMail(a)},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			tt.o.Now = clk.Now
			run(t, mustNew(t, tt.o), clk, tt.steps, filter.NoMacros)
		})
	}
}

// TestClients checks who counts as one client: an IPv4 address, an IPv6
// network of IPv6Prefix bits, an IPv4-mapped address as its IPv4 one.
func TestClients(t *testing.T) {
	tests := []struct {
		name   string
		prefix int
		first  string
		second string
		shared bool
	}{
		{"ipv4 per address", 0, "192.0.2.1", "192.0.2.2", false},
		{"ipv4 mapped", 0, "192.0.2.1", "::ffff:192.0.2.1", true},
		{"ipv6 same /64", 0, "2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff", true},
		{"ipv6 other /64", 0, "2001:db8:1:2::1", "2001:db8:1:3::1", false},
		{"ipv6 zone", 0, "fe80::1%eth0", "fe80::2%eth1", true},
		{"ipv6 /48", 48, "2001:db8:1:2::1", "2001:db8:1:ffff::1", true},
		{"ipv6 /48 other", 48, "2001:db8:1::1", "2001:db8:2::1", false},
		{"ipv6 /128", 128, "2001:db8::1", "2001:db8::2", false},
		{"ipv6 ::/64 is not ipv4", 0, "::1.2.3.4", "1.2.3.4", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			f := mustNew(t, Options{Connections: 1, IPv6Prefix: tt.prefix, Now: clk.Now, ExemptNetworks: []netip.Prefix{}})
			second := netip.MustParseAddr(tt.second).Unmap().WithZone("").String()
			want := cont
			if tt.shared {
				want = refusedConn(second)
			}
			run(t, f, clk, []step{{0, tt.first, cn, cont}, {0, tt.second, cn, want}}, filter.NoMacros)
		})
	}
}

func TestExempt(t *testing.T) {
	lo4, lo6, other := "127.0.0.1", "::1", "192.0.2.1"
	auth := filter.MacroMap{"auth_authen": "alice"}
	tests := []struct {
		name   string
		o      Options
		macros filter.Macros
		steps  []step
	}{
		{"loopback by default", Options{Connections: 1, Messages: 1}, filter.NoMacros, []step{
			{0, lo4, cn, cont}, {0, lo4, cn, cont}, {0, lo4, ml, cont}, {0, lo4, ml, cont},
			{0, lo6, cn, cont}, {0, lo6, cn, cont}, {0, "::ffff:127.0.0.9", cn, cont}, {0, "::ffff:127.0.0.9", cn, cont},
			{0, other, cn, cont}, {0, other, cn, refusedConn(other)},
		}},
		{"empty list exempts nobody", Options{Messages: 1, ExemptNetworks: []netip.Prefix{}}, filter.NoMacros, []step{
			{0, lo4, cn, cont}, {0, lo4, ml, cont}, {0, lo4, ml, refusedMail(lo4)},
			{0, lo6, cn, cont}, {0, lo6, ml, cont}, {0, lo6, ml, refusedMail(lo6)},
		}},
		{"own networks", Options{Connections: 1, ExemptNetworks: []netip.Prefix{
			netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("::ffff:198.51.100.0/120")}}, filter.NoMacros, []step{
			{0, other, cn, cont}, {0, other, cn, cont},
			{0, "198.51.100.7", cn, cont}, {0, "198.51.100.7", cn, cont},
			{0, lo4, cn, cont}, {0, lo4, cn, refusedConn(lo4)},
		}},
		{"authenticated exempt", Options{Connections: 2, Messages: 1, Recipients: 1, ExemptAuthenticated: true}, auth, []step{
			{0, other, cn, cont}, {0, other, ml, cont}, {0, other, ml, cont}, {0, other, rc, cont}, {0, other, rc, cont},
			{0, other, cn, cont}, {0, other, cn, refusedConn(other)}, // connect comes before AUTH
		}},
		{"authenticated not exempt", Options{Messages: 1, Recipients: 1}, auth, []step{
			{0, other, cn, cont}, {0, other, ml, cont}, {0, other, ml, refusedMail(other)},
			{0, other, rc, cont}, {0, other, rc, refusedRcpt(other)},
		}},
		{"exempt auth, not authenticated", Options{Messages: 1, ExemptAuthenticated: true}, filter.MacroMap{"auth_authen": ""}, []step{
			{0, other, cn, cont}, {0, other, ml, cont}, {0, other, ml, refusedMail(other)},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			tt.o.Now = clk.Now
			run(t, mustNew(t, tt.o), clk, tt.steps, tt.macros)
		})
	}
}
