package smtpd

import (
	"context"
	"errors"
	"time"

	"github.com/sluice-mta/sluice/envelope"
)

// Spool is where the server puts accepted messages. The queue satisfies
// it through a small adapter in cmd/sluice; tests use a directory.
type Spool interface {
	// Create starts a message. The server calls it at MAIL, so that the
	// queue ID is known to filters from the MAIL stage on (macro i).
	Create(ctx context.Context) (Draft, error)
}

// Draft is one message being received. The server calls Write with the
// body as it streams in, then exactly one of Commit or Abort. A Draft is
// used by one goroutine.
type Draft interface {
	// ID is the queue ID, known from creation; the 250 reply names it.
	ID() string
	// Write appends body bytes: the part of the content after the header
	// section, CRLF line ends, not dot-stuffed, never a bare CR or LF.
	// The body is streamed, never held whole in memory.
	Write(p []byte) (int, error)
	// Commit stores m with the body written so far and returns only once
	// the message is durable (file and directory synced): the server
	// answers 250 after it. On error nothing of the message may remain.
	Commit(ctx context.Context, m *Message) error
	// Abort discards the draft. The server may call it after a failed
	// Commit or twice; that must be harmless.
	Abort() error
}

// ErrSpoolTemporary is what a Spool or Draft error matches (errors.Is)
// when the message cannot be stored for now (disk full, I/O error): the
// server answers 452 4.3.1 and the client keeps the message and retries.
// Any other spool error gets 451 4.3.0, also temporary. A spool may
// instead return an *Error for a reply of its own.
var ErrSpoolTemporary = errors.New("smtpd: spool temporarily unable to store the message")

// Message is what Commit stores besides the body.
type Message struct {
	// Envelope is the sender and the recipients, with their ESMTP
	// parameters (SIZE, BODY, SMTPUTF8, RET, ENVID; NOTIFY, ORCPT), after
	// the filters' edits; QueueID is the Draft's ID.
	Envelope envelope.Envelope
	// Client is who sent the message: the connection as the server saw
	// it, with the identity an XCLIENT or XFORWARD command gave.
	Client envelope.Conn
	// Header is the final header section: the server's Received field
	// first, then the client's fields as edited by the filters, CRLF line
	// ends, ending with the empty line that separates it from the body.
	// The content to deliver is Header followed by the body.
	Header []byte
	// BodySize is the number of body bytes written to the Draft.
	BodySize int64
	// Quarantine, when not empty, is why a filter asked for the message
	// to be held instead of delivered.
	Quarantine string
	// Arrived is when the end of the message was received.
	Arrived time.Time
}
