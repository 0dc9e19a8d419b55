package queue_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/queue"
)

// printer is a Deliverer that prints what it gets and accepts it.
type printer struct{ done chan struct{} }

func (p printer) Deliver(ctx context.Context, m *envelope.Delivery) []envelope.RcptResult {
	rc, err := m.Open(ctx)
	if err != nil {
		panic(err)
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	fmt.Printf("from <%s> to <%s>, %d bytes:\n%s", m.From.Addr, m.To[0].Addr, m.Size, strings.ReplaceAll(string(b), "\r\n", "\n"))
	defer close(p.done)
	return []envelope.RcptResult{{Rcpt: m.To[0].Addr, Status: envelope.Delivered, Code: 250, Text: "ok"}}
}

// The SMTP engine streams the body into a Draft while filters look at it,
// and commits it with the final header section at the end of DATA; the
// runner then hands the message to a Deliverer.
func Example() {
	dir, err := os.MkdirTemp("", "spool")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	q, err := queue.Open(queue.Options{Dir: dir})
	if err != nil {
		panic(err)
	}
	defer q.Close()

	ctx := context.Background()
	d, err := q.Create(ctx)
	if err != nil {
		panic(err)
	}
	io.WriteString(d, "Hello.\r\n") // body bytes, as they arrive
	rec := queue.Record{
		From:  envelope.Address{Addr: "alice@example.org"},
		Rcpts: queue.Recipients([]envelope.Address{{Addr: "bob@example.net"}}),
	}
	if _, err := d.Commit(ctx, rec, []byte("Subject: hi\r\n\r\n")); err != nil {
		panic(err) // errors.Is(err, queue.ErrTemporary): answer 452 4.3.1
	}

	runCtx, stop := context.WithCancel(ctx)
	p := printer{done: make(chan struct{})}
	ran := make(chan error)
	go func() { ran <- q.Run(runCtx, p, queue.RunOptions{Hostname: "mx.example.org"}) }()
	<-p.done
	stop()
	<-ran
	// Output:
	// from <alice@example.org> to <bob@example.net>, 23 bytes:
	// Subject: hi
	//
	// Hello.
}
