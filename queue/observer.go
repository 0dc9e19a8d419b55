package queue

// Observer is told of the runner's outcomes, for metrics (Options.Observer).
// Its methods are called from the runner's worker goroutines,
// concurrently, and must return quickly without calling the Queue. For
// the number of messages queued, see Len.
type Observer interface {
	// Recipient reports one recipient's outcome of a delivery attempt,
	// or of its expiry.
	Recipient(result RcptResult)
	// DSN reports a delivery status notification queued, of kind.
	DSN(kind DSNKind)
}

// RcptResult is one recipient's outcome.
type RcptResult string

// The outcomes.
const (
	RcptDelivered RcptResult = "delivered" // the deliverer took it
	RcptDeferred  RcptResult = "deferred"  // to be tried again
	// RcptBounced: failed for good (a permanent error, or expired); a
	// failure DSN follows unless the sender is null or NOTIFY says not.
	RcptBounced RcptResult = "bounced"
)

// DSNKind is what a queued DSN reports.
type DSNKind string

// The kinds, as RFC 3464's Action names them.
const (
	DSNFailed    DSNKind = "failed"
	DSNDelayed   DSNKind = "delayed"
	DSNDelivered DSNKind = "delivered" // NOTIFY=SUCCESS: delivered or relayed
)

// observeRcpts reports the events of one settle.
func (q *Queue) observeRcpts(events []rcptEvent) {
	o := q.opts.Observer
	if o == nil {
		return
	}
	for _, ev := range events {
		switch ev.state {
		case "delivered":
			o.Recipient(RcptDelivered)
		case "deferred":
			o.Recipient(RcptDeferred)
		default: // failed, expired
			o.Recipient(RcptBounced)
		}
	}
}

// observeDSN reports a DSN queued.
func (q *Queue) observeDSN(kind dsnKind) {
	o := q.opts.Observer
	if o == nil {
		return
	}
	switch kind {
	case dsnFailure:
		o.DSN(DSNFailed)
	case dsnDelay:
		o.DSN(DSNDelayed)
	case dsnSuccess:
		o.DSN(DSNDelivered)
	}
}
