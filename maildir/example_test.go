package maildir_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/maildir"
)

func ExampleMaildir_Deliver() {
	dir, err := os.MkdirTemp("", "maildir-example-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)

	md, err := maildir.New(filepath.Join(dir, "mail"), maildir.Options{})
	if err != nil {
		panic(err)
	}
	content := "Subject: hello\r\n\r\nHi.\r\n"
	res := md.Deliver(context.Background(), &envelope.Delivery{
		From: envelope.Address{Addr: "a@example.org"},
		To:   []envelope.Address{{Addr: "b@example.net"}, {Addr: "c@example.net"}},
		Open: func(context.Context) (io.ReadCloser, error) {
			return io.NopCloser(strings.NewReader(content)), nil
		},
	})
	for _, r := range res {
		fmt.Println(r.Rcpt, r.Status)
	}
	msg, err := os.ReadFile(strings.TrimPrefix(res[0].Text, "delivered to maildir as "))
	if err != nil {
		panic(err)
	}
	fmt.Print(string(msg))
	// Output:
	// b@example.net delivered
	// c@example.net delivered
	// Return-Path: <a@example.org>
	// Subject: hello
	//
	// Hi.
}
