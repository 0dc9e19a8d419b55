package dnsbl_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/filter/dnsbl"
)

// listResolver answers from a map, as a DNS server serving the lists
// would; every other name does not exist.
type listResolver map[string]string

func (r listResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := r[host]; ok {
		return []netip.Addr{netip.MustParseAddr(a)}, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func Example() {
	f, err := dnsbl.New(dnsbl.Options{
		Zones:    []string{"zen.example=127.0.0.[2..11]", "bl.example*2"},
		Resolver: listResolver{"99.2.0.192.zen.example.": "127.0.0.4"},
	})
	if err != nil {
		panic(err)
	}
	for _, client := range []string{"192.0.2.99", "192.0.2.1"} {
		s, _ := f.NewSession(context.Background(), nil)
		v := s.Connect(context.Background(), &envelope.Conn{ClientAddr: netip.AddrPortFrom(netip.MustParseAddr(client), 50000)})
		fmt.Println(client, v)
		s.Close(context.Background())
	}
	// Output:
	// 192.0.2.99 reject 554 5.7.1 Service unavailable; client [192.0.2.99] blocked using zen.example
	// 192.0.2.1 continue
}
