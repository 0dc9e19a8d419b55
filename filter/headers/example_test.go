package headers_test

import (
	"context"
	"fmt"

	"github.com/sluice-mta/sluice/filter"
	"github.com/sluice-mta/sluice/filter/headers"
)

func Example() {
	h, err := headers.ParseHeader("X-Filtered-By: sluice")
	if err != nil {
		panic(err)
	}
	f, err := headers.New(headers.Options{
		Add:    []headers.Header{h},
		Remove: []string{"X-Spam-Status"},
	})
	if err != nil {
		panic(err)
	}

	ctx := context.Background()
	s, _ := f.NewSession(ctx, filter.NoMacros)
	s.Header(ctx, "Subject", "hello")
	s.Header(ctx, "X-Spam-Status", "Yes")
	s.Header(ctx, "x-spam-status", "No")
	m := filter.NewModifier(f.Needs().Edits, nil)
	s.EndOfMessage(ctx, m)
	for _, e := range m.Edits() {
		fmt.Println(e)
	}
	// Output:
	// delheader X-Spam-Status[2]
	// delheader X-Spam-Status[1]
	// addheader X-Filtered-By: sluice
}
