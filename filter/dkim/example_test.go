package dkim_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/filter"
	"github.com/sluice-mta/sluice/filter/dkim"
)

// zone is a Resolver answering from a map, standing in for DNS.
type zone map[string]string

func (z zone) LookupTXT(_ context.Context, name string) ([]string, error) {
	if txt, ok := z[name]; ok {
		return []string{txt}, nil
	}
	return nil, fmt.Errorf("no TXT record for %s", name)
}

// deliver passes a message through a session of f from client and
// returns its end-of-message verdict and edits.
func deliver(f *dkim.Filter, client string, header [][2]string, body string) (filter.Verdict, []filter.Edit) {
	ctx := context.Background()
	s, _ := f.NewSession(ctx, filter.MacroMap{})
	defer s.Close(ctx)
	s.Connect(ctx, &envelope.Conn{ClientAddr: netip.MustParseAddrPort(client)})
	s.Mail(ctx, envelope.Address{Addr: "alice@example.com"})
	for _, h := range header {
		s.Header(ctx, h[0], h[1]) // values as written, with their leading space
	}
	s.Body(ctx, []byte(body))
	m := filter.NewModifier(f.Needs().Edits, nil)
	return s.EndOfMessage(ctx, m), m.Edits()
}

func Example() {
	seed := make([]byte, ed25519.SeedSize) // a fixed key, for a stable output
	key := ed25519.NewKeyFromSeed(seed)
	dns := zone{"mail._domainkey.example.com": "v=DKIM1; k=ed25519; p=" +
		base64.StdEncoding.EncodeToString(key.Public().(ed25519.PublicKey))}
	f, err := dkim.New(dkim.Options{
		Hostname: "mx.example.org",
		Keys:     []dkim.Key{{Domain: "example.com", Selector: "mail", Signer: key}},
		Resolver: dns,
		Logger:   slog.New(slog.DiscardHandler),
	})
	if err != nil {
		panic(err)
	}
	header := [][2]string{{"From", " Alice <alice@example.com>"}, {"To", " bob@example.net"}, {"Subject", " hi"}}
	body := "Hello\r\n"

	// From loopback: signed.
	v, edits := deliver(f, "127.0.0.1:5000", header, body)
	sig := edits[0]
	fmt.Println(v, sig.Kind, sig.Index, sig.Name)
	fmt.Println(strings.Contains(sig.Value, "a=ed25519-sha256;"), strings.Contains(sig.Value, "h=From:From:Subject:To;"))

	// The signed message arriving from elsewhere: verified.
	signed := append([][2]string{{sig.Name, sig.Value}}, header...)
	v, edits = deliver(f, "192.0.2.1:5000", signed, body)
	fmt.Println(v, edits[0].Kind, edits[0].Name)
	ar, _, _ := strings.Cut(edits[0].Value, " header.b=") // b= varies with the signature's time
	fmt.Printf("%q\n", ar)
	// Output:
	// continue insheader 0 DKIM-Signature
	// true true
	// continue insheader Authentication-Results
	// " mx.example.org;\r\n\tdkim=pass header.d=example.com header.s=mail"
}
