package xclient_test

import (
	"fmt"
	"net/netip"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/xclient"
)

// A client forwards the original client's identity with XCLIENT, sending
// only the attributes the server advertised.
func ExampleCommands() {
	orig := envelope.Conn{
		ClientName: "mail.example.net",
		ClientAddr: netip.MustParseAddrPort("192.0.2.7:40123"),
		HELO:       "mail.example.net",
		Proto:      "ESMTPS",
	}
	advertised := "NAME ADDR PROTO HELO LOGIN" // from "250-XCLIENT NAME ADDR PROTO HELO LOGIN"
	lines, err := xclient.Commands(xclient.VerbXClient, xclient.Supported(xclient.ClientAttrs(orig), advertised))
	if err != nil {
		panic(err)
	}
	for _, l := range lines {
		fmt.Println(l)
	}

	attrs, err := xclient.Parse("NAME=[TEMPUNAVAIL] HELO=two+20words")
	fmt.Println(attrs, err)
	// Output:
	// XCLIENT NAME=mail.example.net ADDR=192.0.2.7 PROTO=ESMTP HELO=mail.example.net LOGIN=[UNAVAILABLE]
	// [{NAME [TEMPUNAVAIL]} {HELO two words}] <nil>
}
