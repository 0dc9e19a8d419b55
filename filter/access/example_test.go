package access_test

import (
	"context"
	"errors"
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

// A program that reads rules from a file names each bad rule its own way
// from the RuleError's Index and Key.
func ExampleRuleError() {
	_, err := access.New(access.Options{Rules: []access.Rule{
		{Sender: "<>", Action: "accept"},
		{Client: "192.0.2.1/24", Action: "reject", Reply: "554 4.7.1 no"},
	}})
	fmt.Println(err)
	var re *access.RuleError
	if errors.As(err, &re) {
		fmt.Printf("rule #%d, %s: %v\n", re.Index+1, re.Key, re.Err)
	}
	// Output:
	// filter/access: rules[1].client: network 192.0.2.1/24 has host bits set (did you mean 192.0.2.0/24?)
	// filter/access: rules[1].reply: reply "554 4.7.1 no": enhanced code 4.7.1 does not match class 5
	// rule #2, client: network 192.0.2.1/24 has host bits set (did you mean 192.0.2.0/24?)
}
