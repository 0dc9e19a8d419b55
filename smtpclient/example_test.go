package smtpclient_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/smtpclient"
	"github.com/sluice-mta/sluice/tls"
)

// A downstream for the example: go-smtp's server, accepting everything.
type sinkBackend struct{}
type sinkSession struct{}

func (sinkBackend) NewSession(*smtp.Conn) (smtp.Session, error) { return sinkSession{}, nil }
func (sinkSession) Reset()                                      {}
func (sinkSession) Logout() error                               { return nil }
func (sinkSession) Mail(string, *smtp.MailOptions) error        { return nil }
func (sinkSession) Rcpt(string, *smtp.RcptOptions) error        { return nil }
func (sinkSession) Data(r io.Reader) error                      { _, err := io.Copy(io.Discard, r); return err }

func Example() {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	srv := smtp.NewServer(sinkBackend{})
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()

	c, err := smtpclient.New(smtpclient.Options{
		Address:  "smtp://" + l.Addr().String(),
		TLS:      tls.PolicyOpportunistic,
		XClient:  true,
		XForward: true,
		HeloName: "mx.example.org",
	})
	if err != nil {
		panic(err)
	}
	defer c.Close()

	content := "From: a@example.org\r\nSubject: hello\r\n\r\nHi.\r\n"
	m := &envelope.Delivery{
		QueueID: "Q1",
		From:    envelope.Address{Addr: "a@example.org"},
		To:      []envelope.Address{{Addr: "b@example.net"}, {Addr: "c@example.net"}},
		Size:    int64(len(content)),
		Open: func(context.Context) (io.ReadCloser, error) {
			return io.NopCloser(strings.NewReader(content)), nil
		},
	}
	for _, r := range c.Deliver(context.Background(), m) {
		fmt.Println(r.Rcpt, r.Status, r.Code, r.Enhanced)
	}
	// Output:
	// b@example.net delivered 250 2.0.0
	// c@example.net delivered 250 2.0.0
}
