package spf_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/filter"
	"github.com/sluice-mta/sluice/filter/spf"
)

// records is a Resolver answering TXT lookups from a map; a real program
// leaves Options.Resolver nil, or gives a *net.Resolver.
type records map[string]string

func (r records) LookupTXT(_ context.Context, name string) ([]string, error) {
	if txt, ok := r[name]; ok {
		return []string{txt}, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

func (records) LookupMX(context.Context, string) ([]*net.MX, error)        { return nil, nil }
func (records) LookupIPAddr(context.Context, string) ([]net.IPAddr, error) { return nil, nil }
func (records) LookupAddr(context.Context, string) ([]string, error)       { return nil, nil }

func Example() {
	f, err := spf.New(spf.Options{
		Resolver: records{
			"example.com": "v=spf1 ip4:192.0.2.0/24 -all",
			"example.net": "v=spf1 ~all",
		},
		Receiver: "mx.example.org",
	})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	s, _ := f.NewSession(ctx, filter.NoMacros)
	s.Connect(ctx, &envelope.Conn{ClientAddr: netip.MustParseAddrPort("192.0.2.25:40000")})
	s.Helo(ctx, "mail.example.com")

	fmt.Println("mail:", s.Mail(ctx, envelope.Address{Addr: "alice@example.com"}))
	m := filter.NewModifier(f.Needs().Edits, nil)
	s.EndOfMessage(ctx, m)
	fmt.Printf("%q\n", m.Edits()[0].Value)

	s2, _ := f.NewSession(ctx, filter.NoMacros)
	s2.Connect(ctx, &envelope.Conn{ClientAddr: netip.MustParseAddrPort("198.51.100.7:40000")})
	fmt.Println("mail:", s2.Mail(ctx, envelope.Address{Addr: "bob@example.com"}))
	fmt.Println("mail:", s2.Mail(ctx, envelope.Address{Addr: "carol@example.net"}))
	// Output:
	// mail: continue
	// "pass (mx.example.org: domain of alice@example.com designates\r\n\t192.0.2.25 as permitted sender) client-ip=192.0.2.25;\r\n\tenvelope-from=\"alice@example.com\"; helo=mail.example.com;\r\n\treceiver=mx.example.org; identity=mailfrom"
	// mail: reject 550 5.7.23 SPF validation failed: example.com does not designate 198.51.100.7 as a permitted sender
	// mail: continue
}
