package envelope

import (
	"context"
	"io"
	"time"
)

// Delivery is one queued message handed to a deliverer (the SMTP/LMTP
// client or the maildir writer): who sent it, to whom, the original client
// (for XCLIENT/XFORWARD), and a way to read its content.
type Delivery struct {
	QueueID string
	From    Address   // with MAIL parameters (BODY, SMTPUTF8, RET, ENVID)
	To      []Address // recipients still to deliver, with RCPT parameters (NOTIFY, ORCPT)
	Client  Conn      // the original client, as received
	Arrived time.Time
	Size    int64 // content size in bytes, for SIZE=
	// Open returns the message content (header section then body, CRLF
	// line ends, not dot-stuffed). Each call starts from the beginning.
	Open func(ctx context.Context) (io.ReadCloser, error)
}

// Status classifies a delivery result.
type Status uint8

// Delivery statuses.
const (
	Delivered Status = iota + 1 // the downstream accepted responsibility
	Deferred                    // transient failure: try again later
	Failed                      // permanent failure: bounce
)

func (s Status) String() string {
	switch s {
	case Delivered:
		return "delivered"
	case Deferred:
		return "deferred"
	case Failed:
		return "failed"
	}
	return "unknown"
}

// RcptResult is the outcome for one recipient of a Delivery.
type RcptResult struct {
	Rcpt     string // the recipient address as in Delivery.To
	Status   Status
	Code     int    // SMTP reply code from the downstream, 0 when none (e.g. connection failure)
	Enhanced string // RFC 3463 code, "" when none
	Text     string // the downstream's reply text, or a description of the local failure
	Remote   string // the host that answered, for DSN Remote-MTA; "" for local delivery
	// Handoff says, for a Delivered result, whether the message reached
	// its final mailbox, an MTA that takes over DSN duties, or an MTA that
	// does not; it is ignored for other statuses.
	Handoff Handoff
}

// Handoff says what became of a recipient the deliverer reports Delivered,
// which decides the success notification the queue owes a recipient whose
// NOTIFY parameter asks for SUCCESS (RFC 3461 §5.2).
type Handoff uint8

// Handoffs. The zero value is HandoffUnknown.
const (
	// HandoffUnknown: the deliverer did not say. The queue treats it as
	// HandoffRelayed: the message left its hands and nothing is known to
	// report on it further.
	HandoffUnknown Handoff = iota
	// HandoffRelayed: an MTA accepted the message without having
	// advertised DSN, so the NOTIFY and ORCPT parameters were not passed
	// on; the queue sends a "relayed" DSN (RFC 3461 §5.2.2).
	HandoffRelayed
	// HandoffPassedOn: an MTA that advertised DSN accepted the message
	// with the DSN parameters (RFC 3461 §5.2.1); it reports, the queue
	// does not.
	HandoffPassedOn
	// HandoffFinal: final delivery into the mailbox (a maildir, or an LMTP
	// server that did not advertise DSN); the queue sends a "delivered"
	// DSN (RFC 3461 §5.2.3).
	HandoffFinal
)

func (h Handoff) String() string {
	switch h {
	case HandoffRelayed:
		return "relayed"
	case HandoffPassedOn:
		return "passed-on"
	case HandoffFinal:
		return "final"
	}
	return "unknown"
}
