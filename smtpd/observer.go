package smtpd

// Observer is told of the server's events, for metrics. Its methods are
// called from the sessions' goroutines, concurrently, and must return
// quickly; they must not call back into the Server. The zero Options
// have none (nothing is reported).
type Observer interface {
	// ConnectionOpened: a client was admitted and its session begins.
	ConnectionOpened()
	// ConnectionRefused: a client was answered 421 and closed without a
	// session, for reason.
	ConnectionRefused(reason RefusalReason)
	// ConnectionClosed ends each ConnectionOpened.
	ConnectionClosed()
	// RecipientRejected: a RCPT was refused with code (relay control or
	// a filter's verdict).
	RecipientRejected(code int)
	// Message is the outcome of each message whose content the server
	// read to its end.
	Message(m MessageOutcome)
}

// RefusalReason says why a connection was refused.
type RefusalReason string

// The reasons, as a metric label can show them.
const (
	RefusedFull     RefusalReason = "max_connections"        // Options.MaxConnections
	RefusedPerIP    RefusalReason = "max_connections_per_ip" // Options.MaxConnectionsPerIP
	RefusedShutdown RefusalReason = "shutdown"               // the server is stopping
)

// MessageResult is what became of a message.
type MessageResult string

// The results.
const (
	MessageQueued     MessageResult = "queued"     // committed to the spool: 250
	MessageDiscarded  MessageResult = "discarded"  // 250, but a filter dropped it
	MessageRejected   MessageResult = "rejected"   // a 5xx reply
	MessageTempFailed MessageResult = "tempfailed" // a 4xx reply
)

// MessageOutcome is one message's result. Size (header and body as
// spooled, Received field included) and Rcpts are set for a queued
// message only; Code is the reply to a rejected or tempfailed one.
type MessageOutcome struct {
	Result MessageResult
	Code   int
	Size   int64
	Rcpts  int
}

// refusedOutcome is the outcome of a message answered with e.
func refusedOutcome(e *Error) MessageOutcome {
	if e.Code >= 500 {
		return MessageOutcome{Result: MessageRejected, Code: e.Code}
	}
	return MessageOutcome{Result: MessageTempFailed, Code: e.Code}
}

// nopObserver stands for a nil Options.Observer.
type nopObserver struct{}

func (nopObserver) ConnectionOpened()               {}
func (nopObserver) ConnectionRefused(RefusalReason) {}
func (nopObserver) ConnectionClosed()               {}
func (nopObserver) RecipientRejected(int)           {}
func (nopObserver) Message(MessageOutcome)          {}
