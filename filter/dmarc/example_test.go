package dmarc_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/filter"
	"github.com/sluice-mta/sluice/filter/dmarc"
)

// records is a Resolver answering from a map.
type records map[string]string

func (r records) LookupTXT(_ context.Context, name string) ([]string, error) {
	if txt, ok := r[name]; ok {
		return []string{txt}, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

func Example() {
	f, err := dmarc.New(dmarc.Options{
		AuthservID: "mx.example.org",
		Enforce:    true,
		Resolver:   records{"_dmarc.example.com": "v=DMARC1; p=quarantine"},
	})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	s, _ := f.NewSession(ctx, filter.NoMacros)
	s.Connect(ctx, &envelope.Conn{ClientAddr: netip.MustParseAddrPort("198.51.100.7:40000")})
	s.Mail(ctx, envelope.Address{Addr: "news@bounces.example.net"})
	// The fields an earlier DKIM verifier and SPF check added.
	s.Header(ctx, "Authentication-Results", "mx.example.org; dkim=pass header.d=example.net")
	s.Header(ctx, "Received-SPF", `pass client-ip=198.51.100.7; envelope-from="news@bounces.example.net"; identity=mailfrom`)
	s.Header(ctx, "From", "News <news@example.com>")
	m := filter.NewModifier(f.Needs().Edits, nil)
	fmt.Println(s.EndOfMessage(ctx, m))
	for _, e := range m.Edits() {
		fmt.Printf("%q\n", e.String())
	}
	// Output:
	// continue
	// "insheader 0 Authentication-Results: mx.example.org;\r\n\tdmarc=fail (p=quarantine dis=quarantine) header.from=example.com"
	// "quarantine DMARC policy of example.com: quarantine"
}
