package access_test

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/filter"
	"github.com/sluice-mta/sluice/filter/access"
)

func Example() {
	f, err := access.New(access.Options{Rules: []access.Rule{
		{Client: "192.0.2.0/24", Action: "reject", Reply: "554 5.7.1 Your network is blocked"},
		{Sender: ".example.net", Action: "quarantine", Reason: "held for review"},
		{Recipient: "nobody@example.com", Action: "reject", Reply: "550 5.1.1 No such user"},
	}})
	if err != nil {
		panic(err)
	}
	fmt.Println("skips:", f.Needs().Skip)

	ctx := context.Background()
	s, _ := f.NewSession(ctx, filter.NoMacros)
	c := &envelope.Conn{ClientAddr: netip.MustParseAddrPort("198.51.100.7:40000")}
	fmt.Println("connect:", s.Connect(ctx, c))
	fmt.Println("mail:", s.Mail(ctx, envelope.Address{Addr: "news@lists.example.net"}))
	fmt.Println("rcpt:", s.Rcpt(ctx, envelope.Address{Addr: "nobody@example.com"}))
	fmt.Println("rcpt:", s.Rcpt(ctx, envelope.Address{Addr: "alice@example.com"}))
	m := filter.NewModifier(f.Needs().Edits, nil)
	fmt.Println("eom:", s.EndOfMessage(ctx, m), m.Edits())
	// Output:
	// skips: {helo,data,header,eoh,body,unknown}
	// connect: continue
	// mail: continue
	// rcpt: reject 550 5.1.1 No such user
	// rcpt: continue
	// eom: continue [quarantine held for review]
}
