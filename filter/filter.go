package filter

import (
	"context"

	"github.com/sluice-mta/sluice/envelope"
)

// Filter is a check that can run in any role of sluice. It is safe for
// concurrent use: each connection gets its own Session.
type Filter interface {
	// Needs declares the stages, replies, edits and macros the filter uses.
	Needs() Needs
	// NewSession opens a session for one SMTP connection. macros reflects
	// the current stage for the whole life of the session.
	NewSession(ctx context.Context, macros Macros) (Session, error)
}

// Session is one SMTP connection as a filter sees it. The engine calls its
// methods from one goroutine, in SMTP order; a connection may carry several
// transactions (MAIL … EndOfMessage or Abort, then MAIL again), and may
// repeat Helo (after STARTTLS or XCLIENT).
//
// Verdicts: see Action for what each means at each stage. A stage listed in
// Needs.Skip is never called; a stage listed in Needs.NoReply must return
// Continue.
type Session interface {
	Connect(ctx context.Context, conn *envelope.Conn) Verdict
	Helo(ctx context.Context, name string) Verdict
	Mail(ctx context.Context, from envelope.Address) Verdict
	Rcpt(ctx context.Context, to envelope.Address) Verdict
	Data(ctx context.Context) Verdict
	// Header is called once per header field. The value keeps folding
	// (CRLF followed by white space); its leading space is removed unless
	// Needs.HeaderLeadingSpace is set.
	Header(ctx context.Context, name, value string) Verdict
	EndOfHeaders(ctx context.Context) Verdict
	// Body is called with consecutive chunks of the body, CRLF line ends,
	// not dot-stuffed. The chunk is only valid during the call.
	Body(ctx context.Context, chunk []byte) Verdict
	// EndOfMessage ends the message; edits are recorded through m.
	EndOfMessage(ctx context.Context, m *Modifier) Verdict
	// Abort ends the current transaction without a message; the
	// connection goes on.
	Abort(ctx context.Context)
	// Unknown is called for an SMTP command the MTA did not recognize.
	Unknown(ctx context.Context, command string) Verdict
	// Close ends the session; it is called exactly once.
	Close(ctx context.Context)
}

// Base implements every Session method with Continue (and no-ops for
// Abort and Close). Embed it and override the stages a filter cares about.
type Base struct{}

func (Base) Connect(context.Context, *envelope.Conn) Verdict { return Continue }
func (Base) Helo(context.Context, string) Verdict            { return Continue }
func (Base) Mail(context.Context, envelope.Address) Verdict  { return Continue }
func (Base) Rcpt(context.Context, envelope.Address) Verdict  { return Continue }
func (Base) Data(context.Context) Verdict                    { return Continue }
func (Base) Header(context.Context, string, string) Verdict  { return Continue }
func (Base) EndOfHeaders(context.Context) Verdict            { return Continue }
func (Base) Body(context.Context, []byte) Verdict            { return Continue }
func (Base) EndOfMessage(context.Context, *Modifier) Verdict { return Continue }
func (Base) Abort(context.Context)                           {}
func (Base) Unknown(context.Context, string) Verdict         { return Continue }
func (Base) Close(context.Context)                           {}

// Named is implemented by filters that have a name for logs.
type Named interface {
	Name() string
}

// NameOf returns f's name, or its Go type when it has none.
func NameOf(f Filter) string {
	if n, ok := f.(Named); ok {
		return n.Name()
	}
	return typeName(f)
}
