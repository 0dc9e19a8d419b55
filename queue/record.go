package queue

import (
	"fmt"
	"time"

	"github.com/sluice-mta/sluice/envelope"
)

// Record is a queued message's envelope and delivery state: what its
// record file holds. The SMTP engine fills From, Rcpts, Client and, for a
// quarantined message, Held and HoldReason; Commit sets the rest.
type Record struct {
	ID   string           // set by Commit
	From envelope.Address // the sender with its MAIL parameters (BODY, SMTPUTF8, RET, ENVID); "" is the null sender
	// Rcpts are the recipients with their RCPT parameters (NOTIFY,
	// ORCPT) and delivery state. The zero Rcpt state is Pending.
	Rcpts []Rcpt
	// Client is the original client, for XCLIENT/XFORWARD and logs. The
	// record keeps ID, ClientName, ClientAddr, ClientPath, Family, HELO,
	// Proto, AuthLogin and AuthMech; the other fields are not stored.
	Client  envelope.Conn
	Arrived time.Time // zero: Commit sets the time of commit

	Size       int64 // content bytes, header section included; set by Commit
	HeaderSize int64 // bytes of the header section; set by Commit

	Attempts    int       // delivery attempts made
	LastAttempt time.Time // zero before the first attempt
	NextAttempt time.Time // the runner tries again at or after this time; zero: now

	Held        bool   // on hold (quarantine): the runner leaves it alone
	HoldReason  string // why, for operators
	DelayWarned bool   // a delay DSN was sent
}

// Rcpt is one recipient of a Record.
type Rcpt struct {
	envelope.Address
	State RcptState
	Reply Reply // the last answer about this recipient; zero before any attempt
	// Handoff is, for a Delivered recipient, what the deliverer said
	// became of the message (envelope.RcptResult.Handoff): it decides the
	// success DSN still owed when the first try to queue it failed. It is
	// HandoffUnknown for other states, when the deliverer did not say, and
	// in records written before it was kept; a success DSN then reports
	// the recipient as "relayed", as for a deliverer that did not say.
	Handoff envelope.Handoff
	// Notified is set once the DSN this recipient's final state calls for
	// was queued (or was not wanted: NOTIFY=NEVER, null sender).
	Notified bool
	// Expired is set with State Failed when the recipient was still
	// pending at Options.MaxAge (Reply is then the last transient one).
	Expired bool
}

// Reply is the outcome of the last delivery attempt for a recipient.
type Reply struct {
	Code     int    // SMTP reply code, 0 when none (connection failure, local error)
	Enhanced string // RFC 3463 code, "" when none
	Text     string // reply text or a description of the failure
	Remote   string // the host that answered, "" for none or local delivery
	At       time.Time
}

// RcptState is where a recipient stands.
type RcptState uint8

// Recipient states.
const (
	Pending   RcptState = iota // still to deliver (never tried, or deferred)
	Delivered                  // the deliverer took responsibility
	Failed                     // permanently failed, or expired
)

var stateNames = [...]string{Pending: "pending", Delivered: "delivered", Failed: "failed"}

func (s RcptState) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("RcptState(%d)", s)
}

// MarshalText encodes the state as its name.
func (s RcptState) MarshalText() ([]byte, error) {
	if int(s) >= len(stateNames) {
		return nil, fmt.Errorf("bad recipient state %d", s)
	}
	return []byte(stateNames[s]), nil
}

// UnmarshalText decodes a state name.
func (s *RcptState) UnmarshalText(b []byte) error {
	for i, n := range stateNames {
		if string(b) == n {
			*s = RcptState(i)
			return nil
		}
	}
	return fmt.Errorf("bad recipient state %q (want pending, delivered, failed)", b)
}

// Recipients returns addrs as pending recipients, for a new Record.
func Recipients(addrs []envelope.Address) []Rcpt {
	out := make([]Rcpt, len(addrs))
	for i, a := range addrs {
		out[i] = Rcpt{Address: a}
	}
	return out
}

// pending returns the recipients still to deliver.
func (r *Record) pending() []envelope.Address {
	var out []envelope.Address
	for _, rc := range r.Rcpts {
		if rc.State == Pending {
			out = append(out, rc.Address)
		}
	}
	return out
}

// clone returns a deep copy (recipients and parameters are not shared).
func (r *Record) clone() Record {
	c := *r
	c.From.Params = append([]envelope.Param(nil), r.From.Params...)
	c.Rcpts = make([]Rcpt, len(r.Rcpts))
	for i, rc := range r.Rcpts {
		rc.Params = append([]envelope.Param(nil), rc.Params...)
		c.Rcpts[i] = rc
	}
	if r.Client.TLS != nil {
		t := *r.Client.TLS
		c.Client.TLS = &t
	}
	return c
}

// State summarises the record for listings: "held", "pending",
// "deferred" (attempted before), or "done" when no recipient is pending.
func (r *Record) State() string {
	switch {
	case r.Held:
		return "held"
	case len(r.pending()) == 0:
		return "done"
	case r.Attempts > 0:
		return "deferred"
	}
	return "pending"
}
