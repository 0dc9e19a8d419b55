package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/sluice-mta/sluice/queue"
	"github.com/sluice-mta/sluice/smtpd"
)

// queueSpool lets the SMTP engine accept messages into the durable queue:
// smtpd defines the spool it needs, the queue satisfies it through this
// adapter (neither package knows the other).
type queueSpool struct{ q *queue.Queue }

func (s queueSpool) Create(ctx context.Context) (smtpd.Draft, error) {
	d, err := s.q.Create(ctx)
	if err != nil {
		return nil, spoolErr(err)
	}
	return queueDraft{d}, nil
}

type queueDraft struct{ d *queue.Draft }

func (d queueDraft) ID() string { return d.d.ID() }

func (d queueDraft) Write(p []byte) (int, error) {
	n, err := d.d.Write(p)
	return n, spoolErr(err)
}

// Commit stores the message; a quarantined one goes on hold.
func (d queueDraft) Commit(ctx context.Context, m *smtpd.Message) error {
	rec := queue.Record{
		From:       m.Envelope.From,
		Rcpts:      queue.Recipients(m.Envelope.Recipients),
		Client:     m.Client,
		Arrived:    m.Arrived,
		Held:       m.Quarantine != "",
		HoldReason: m.Quarantine,
	}
	_, err := d.d.Commit(ctx, rec, m.Header)
	return spoolErr(err)
}

func (d queueDraft) Abort() error { return d.d.Abort() }

// spoolErr marks the queue's temporary failures (disk full, I/O) so the
// engine answers 452 4.3.1.
func spoolErr(err error) error {
	if err != nil && errors.Is(err, queue.ErrTemporary) {
		return fmt.Errorf("%w: %w", smtpd.ErrSpoolTemporary, err)
	}
	return err
}
