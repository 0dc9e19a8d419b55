package ratelimit_test

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/filter"
	"github.com/sluice-mta/sluice/filter/ratelimit"
)

func Example() {
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	f, err := ratelimit.New(ratelimit.Options{
		Connections: 10,
		Messages:    2, // per Window: two at once, then one each 30s
		Window:      time.Minute,
		Now:         func() time.Time { return now }, // a clock the example moves
	})
	if err != nil {
		panic(err)
	}
	fmt.Println("skips:", f.Needs().Skip)

	ctx := context.Background()
	s, _ := f.NewSession(ctx, filter.NoMacros)
	c := &envelope.Conn{ClientAddr: netip.MustParseAddrPort("[2001:db8::25]:40000")}
	fmt.Println("connect:", s.Connect(ctx, c))
	for range 3 {
		fmt.Println("mail:", s.Mail(ctx, envelope.Address{Addr: "a@example.com"}))
	}
	now = now.Add(30 * time.Second)
	fmt.Println("30s later:", s.Mail(ctx, envelope.Address{Addr: "a@example.com"}))

	// Another address of the same /64 is the same client.
	s2, _ := f.NewSession(ctx, filter.NoMacros)
	s2.Connect(ctx, &envelope.Conn{ClientAddr: netip.MustParseAddrPort("[2001:db8::26]:40001")})
	fmt.Println("same /64:", s2.Mail(ctx, envelope.Address{Addr: "b@example.com"}))
	// Output:
	// skips: {helo,rcpt,data,header,eoh,body,eom,unknown}
	// connect: continue
	// mail: continue
	// mail: continue
	// mail: tempfail 450 4.7.1 Too many messages from [2001:db8::25], slow down
	// 30s later: continue
	// same /64: tempfail 450 4.7.1 Too many messages from [2001:db8::26], slow down
}
