package greylist_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/filter"
	"github.com/sluice-mta/sluice/filter/greylist"
)

func Example() {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	f, err := greylist.New(greylist.Options{
		Delay:               time.Minute,
		WhitelistRecipients: []string{"postmaster@"},
		Now:                 func() time.Time { return now },
		Logger:              slog.New(slog.DiscardHandler),
	})
	if err != nil {
		panic(err)
	}
	defer f.Close()
	fmt.Println("skips:", f.Needs().Skip)

	ctx := context.Background()
	attempt := func(to string) filter.Verdict {
		s, _ := f.NewSession(ctx, filter.NoMacros)
		defer s.Close(ctx)
		s.Connect(ctx, &envelope.Conn{ClientAddr: netip.MustParseAddrPort("192.0.2.7:40000")})
		s.Mail(ctx, envelope.Address{Addr: "alice@example.org"})
		return s.Rcpt(ctx, envelope.Address{Addr: to})
	}
	fmt.Println("first:", attempt("bob@example.com"))
	fmt.Println("postmaster:", attempt("postmaster@example.com"))
	now = now.Add(30 * time.Second)
	fmt.Println("too early:", attempt("bob@example.com"))
	now = now.Add(30 * time.Second)
	fmt.Println("retry:", attempt("bob@example.com"))
	// Output:
	// skips: {helo,data,header,eoh,body,eom,unknown}
	// first: tempfail 450 4.2.0 Greylisted, please try again later
	// postmaster: continue
	// too early: tempfail 450 4.2.0 Greylisted, please try again later
	// retry: continue
}
