package xclient_test

import (
	"fmt"
	"net/netip"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/xclient"
)

// A server checks that the proxy may send XCLIENT, then applies the
// command's attributes to the session's client identity.
func ExampleIdentity_ApplyXClient() {
	proxies := xclient.Networks{netip.MustParsePrefix("127.0.0.1/32")}
	peer := netip.MustParseAddr("127.0.0.1")
	fmt.Println("allowed:", proxies.Allows(peer))

	id := xclient.Identity{Conn: envelope.Conn{ClientAddr: netip.AddrPortFrom(peer, 40000), Family: envelope.FamilyInet}}
	attrs, err := xclient.Parse("NAME=mail.example.net ADDR=192.0.2.7 PORT=4242 HELO=mail.example.net LOGIN=[UNAVAILABLE]")
	if err != nil {
		panic(err)
	}
	if err := id.ApplyXClient(attrs); err != nil {
		panic(err)
	}
	fmt.Println(id.Conn.ClientName, id.Conn.ClientAddr, id.Conn.HELO, id.Conn.AuthLogin == "")

	bad, _ := xclient.Parse("ADDR=not-an-address")
	fmt.Println(id.ApplyXClient(bad))
	// Output:
	// allowed: true
	// mail.example.net 192.0.2.7:4242 mail.example.net true
	// xclient: bad attribute value: ADDR "not-an-address" is not an IP address
}
