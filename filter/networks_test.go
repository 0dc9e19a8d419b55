package filter

import (
	"net/netip"
	"testing"
)

func TestNetworks(t *testing.T) {
	nets, err := NewNetworks([]netip.Prefix{
		netip.MustParsePrefix("10.1.2.3/8"),
		netip.MustParsePrefix("::ffff:192.0.2.0/120"),
		netip.MustParsePrefix("2001:db8::/32"),
		netip.MustParsePrefix("fe80::/10"),
	}, Loopback())
	if err != nil {
		t.Fatal(err)
	}
	want := Networks{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.0/24"),
		netip.MustParsePrefix("2001:db8::/32"), netip.MustParsePrefix("fe80::/10")}
	if len(nets) != len(want) {
		t.Fatalf("NewNetworks = %v, want %v", nets, want)
	}
	for i := range want {
		if nets[i] != want[i] {
			t.Fatalf("NewNetworks = %v, want %v", nets, want)
		}
	}
	for _, tt := range []struct {
		addr string
		want bool
	}{
		{"10.200.0.1", true}, {"192.0.2.9", true}, {"::ffff:192.0.2.9", true},
		{"2001:db8::1", true}, {"fe80::1%eth0", true}, {"192.0.3.1", false}, {"127.0.0.1", false},
	} {
		if got := nets.Contains(netip.MustParseAddr(tt.addr)); got != tt.want {
			t.Errorf("Contains(%s) = %v, want %v", tt.addr, got, tt.want)
		}
	}
	if def, _ := NewNetworks(nil, Loopback()); !def.Contains(netip.MustParseAddr("127.0.0.1")) || !def.Contains(netip.MustParseAddr("::1")) {
		t.Errorf("nil does not give the default: %v", def)
	}
	if none, _ := NewNetworks([]netip.Prefix{}, Loopback()); none.Contains(netip.MustParseAddr("127.0.0.1")) {
		t.Error("an empty list matches loopback")
	}
	if _, err := NewNetworks([]netip.Prefix{{}}, nil); err == nil || err.Error() != "[0]: not a valid network" {
		t.Errorf("invalid network: %v", err)
	}
}
