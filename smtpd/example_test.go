package smtpd_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/smtp"
	"strings"
	"time"

	"github.com/sluice-mta/sluice/smtpd"
)

// printSpool prints what it is given. A real spool writes the body to a
// file and makes it durable in Commit; this one keeps it in memory.
type printSpool struct{ n int }

type printDraft struct {
	id   string
	body bytes.Buffer
}

func (s *printSpool) Create(context.Context) (smtpd.Draft, error) {
	s.n++
	return &printDraft{id: fmt.Sprintf("ID%d", s.n)}, nil
}

func (d *printDraft) ID() string                  { return d.id }
func (d *printDraft) Write(p []byte) (int, error) { return d.body.Write(p) }
func (d *printDraft) Abort() error                { return nil }

func (d *printDraft) Commit(_ context.Context, m *smtpd.Message) error {
	fmt.Printf("queued %s from <%s> to %d recipient(s)\n", m.Envelope.QueueID, m.Envelope.From.Addr, len(m.Envelope.Recipients))
	fmt.Print(strings.ReplaceAll(string(m.Header)+d.body.String(), "\r\n", "\n"))
	return nil
}

// A server that accepts mail for example.org and hands it to a spool.
func Example() {
	srv, err := smtpd.NewServer(smtpd.Options{
		Hostname:     "mx.example.org",
		Spool:        &printSpool{},
		RelayDomains: []string{"example.org"},
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		Clock:        func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) },
	})
	if err != nil {
		panic(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go srv.Serve(l)
	defer srv.Shutdown(context.Background())

	// net/smtp asks for SMTPUTF8, which the server offers: hence
	// UTF8SMTP in the Received field (RFC 6531).
	err = smtp.SendMail(l.Addr().String(), nil, "ann@example.net", []string{"bob@example.org"},
		[]byte("Subject: hello\r\n\r\nHi Bob.\r\n"))
	fmt.Println("sent:", err)
	// Output:
	// queued ID1 from <ann@example.net> to 1 recipient(s)
	// Received: from localhost (unknown [127.0.0.1])
	// 	by mx.example.org (sluice) with UTF8SMTP id ID1
	// 	for <bob@example.org>; Fri, 2 Jan 2026 03:04:05 +0000
	// Subject: hello
	//
	// Hi Bob.
	// sent: <nil>
}
