package milterclient_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/filter"
	"github.com/sluice-mta/sluice/milterclient"
	"github.com/sluice-mta/sluice/miltersrv"
)

// tagger is the milter of the example: it refuses one recipient and tags
// every message with its queue ID.
type tagger struct{}

func (tagger) Needs() filter.Needs { return filter.Needs{Edits: filter.EditAddHeader} }

func (tagger) NewSession(_ context.Context, m filter.Macros) (filter.Session, error) {
	return &taggerSession{macros: m}, nil
}

type taggerSession struct {
	filter.Base
	macros filter.Macros
}

func (s *taggerSession) Rcpt(_ context.Context, to envelope.Address) filter.Verdict {
	if to.Addr == "nobody@example.org" {
		return filter.CustomReply(550, "5.1.1", "No such user")
	}
	return filter.Continue
}

func (s *taggerSession) EndOfMessage(_ context.Context, m *filter.Modifier) filter.Verdict {
	id, _ := s.macros.Macro("i")
	m.AddHeader("X-Tagged", "queue id "+id)
	return filter.Continue
}

// An external milter (here one served by miltersrv on a loopback port) as
// a member of a filter chain.
func Example() {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := miltersrv.New(tagger{}, miltersrv.Options{Logger: quietLogger()})
	go srv.Serve(l)
	defer srv.Close()

	m, err := milterclient.New(milterclient.Options{
		Name:          "tagger",
		Address:       fmt.Sprintf("inet:%d@127.0.0.1", l.Addr().(*net.TCPAddr).Port),
		DefaultAction: milterclient.TempFail,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	chain := filter.NewChain(m)

	ctx := context.Background()
	macros := filter.MacroMap{}
	macros.Set("i", "4Xq1")
	sess, err := chain.NewSession(ctx, macros)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sess.Close(ctx)
	fmt.Println("connect:", sess.Connect(ctx, &envelope.Conn{ClientName: "client.example.net",
		ClientAddr: netip.MustParseAddrPort("192.0.2.10:54321")}))
	fmt.Println("mail:", sess.Mail(ctx, envelope.Address{Addr: "alice@example.net"}))
	fmt.Println("rcpt:", sess.Rcpt(ctx, envelope.Address{Addr: "nobody@example.org"}))
	fmt.Println("rcpt:", sess.Rcpt(ctx, envelope.Address{Addr: "bob@example.org"}))
	fmt.Println("data:", sess.Data(ctx))
	fmt.Println("header:", sess.Header(ctx, "Subject", " hello"))
	fmt.Println("body:", sess.Body(ctx, []byte("Hi Bob.\r\n")))
	mod := filter.NewModifier(chain.Needs().Edits, nil)
	fmt.Println("end of message:", sess.EndOfMessage(ctx, mod))
	// Header values of edits carry the space after the colon: the client
	// declares Needs.HeaderLeadingSpace.
	for _, e := range mod.Edits() {
		fmt.Printf("edit: %s\n", e)
	}
	// Output:
	// connect: continue
	// mail: continue
	// rcpt: reject 550 5.1.1 No such user
	// rcpt: continue
	// data: continue
	// header: continue
	// body: continue
	// end of message: continue
	// edit: addheader X-Tagged:  queue id 4Xq1
}
