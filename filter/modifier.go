package filter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/sluice-mta/sluice/envelope"
)

// EditKind names one kind of end-of-message edit.
type EditKind uint8

// Edit kinds, one per milter modification reply.
const (
	AddHeader       EditKind = iota + 1 // SMFIR_ADDHEADER
	InsertHeader                        // SMFIR_INSHEADER
	ChangeHeader                        // SMFIR_CHGHEADER
	DeleteHeader                        // SMFIR_CHGHEADER with an empty value
	AddRecipient                        // SMFIR_ADDRCPT or SMFIR_ADDRCPT_PAR
	DeleteRecipient                     // SMFIR_DELRCPT
	ChangeSender                        // SMFIR_CHGFROM
	ReplaceBody                         // SMFIR_REPLBODY
	Quarantine                          // SMFIR_QUARANTINE
)

var editNames = [...]string{"", "addheader", "insheader", "chgheader", "delheader", "addrcpt", "delrcpt", "chgfrom", "replbody", "quarantine"}

func (k EditKind) String() string {
	if int(k) < len(editNames) && k != 0 {
		return editNames[k]
	}
	return fmt.Sprintf("edit(%d)", uint8(k))
}

// Edit is one recorded end-of-message edit.
type Edit struct {
	Kind EditKind
	// Name and Value of a header. Value keeps folding and is sent as is:
	// without a leading space, unless the filter declared
	// Needs.HeaderLeadingSpace and so writes the space itself.
	Name, Value string
	// Index: for InsertHeader the position among all headers (0 = first);
	// for ChangeHeader and DeleteHeader the 1-based occurrence among headers
	// called Name.
	Index int
	// Address for AddRecipient, DeleteRecipient and ChangeSender, with
	// ESMTP parameters for AddRecipient and ChangeSender.
	Address envelope.Address
	// Body is the new body for ReplaceBody (CRLF line ends, not
	// dot-stuffed); the engine reads it once, after EndOfMessage returns.
	Body io.Reader
	// Reason for Quarantine.
	Reason string
}

func (e Edit) String() string {
	switch e.Kind {
	case AddHeader:
		return fmt.Sprintf("addheader %s: %s", e.Name, e.Value)
	case InsertHeader:
		return fmt.Sprintf("insheader %d %s: %s", e.Index, e.Name, e.Value)
	case ChangeHeader:
		return fmt.Sprintf("chgheader %s[%d]: %s", e.Name, e.Index, e.Value)
	case DeleteHeader:
		return fmt.Sprintf("delheader %s[%d]", e.Name, e.Index)
	case AddRecipient, DeleteRecipient, ChangeSender:
		s := fmt.Sprintf("%s <%s>", e.Kind, e.Address.Addr)
		if p := e.Address.ParamString(); p != "" {
			s += " " + p
		}
		return s
	case ReplaceBody:
		return "replbody"
	case Quarantine:
		return "quarantine " + e.Reason
	}
	return e.Kind.String()
}

// ErrEditNotDeclared is returned when a filter makes an edit it did not
// declare in Needs.Edits; the MTA would refuse it.
var ErrEditNotDeclared = errors.New("filter: edit not declared in Needs.Edits")

// Modifier records the edits a filter makes at end of message. Only
// EndOfMessage receives one, so edits elsewhere cannot be written.
// Its methods return ErrEditNotDeclared for an edit outside the filter's
// declared Needs.Edits, and an error for a malformed one.
type Modifier struct {
	allowed  EditSet
	edits    []Edit
	progress func(context.Context) error
}

// NewModifier returns a Modifier allowing the edits in allowed. progress,
// when not nil, is called by Progress (the milter server sends
// SMFIR_PROGRESS from it).
func NewModifier(allowed EditSet, progress func(context.Context) error) *Modifier {
	return &Modifier{allowed: allowed, progress: progress}
}

// Edits returns the recorded edits in the order they were made.
func (m *Modifier) Edits() []Edit { return m.edits }

func (m *Modifier) record(need EditSet, e Edit) error {
	if !m.allowed.Has(need) {
		return fmt.Errorf("%w: %s", ErrEditNotDeclared, e.Kind)
	}
	m.edits = append(m.edits, e)
	return nil
}

func checkHeader(name, value string) error {
	if name == "" || strings.ContainsAny(name, ": \t\r\n\x00") {
		return fmt.Errorf("filter: bad header name %q", name)
	}
	if strings.ContainsRune(value, 0) {
		return fmt.Errorf("filter: header %s value contains NUL", name)
	}
	return nil
}

// AddHeader appends a header at the end of the header section.
func (m *Modifier) AddHeader(name, value string) error {
	if err := checkHeader(name, value); err != nil {
		return err
	}
	return m.record(EditAddHeader, Edit{Kind: AddHeader, Name: name, Value: value})
}

// InsertHeader inserts a header at position index among all headers
// (0 puts it first).
func (m *Modifier) InsertHeader(index int, name, value string) error {
	if err := checkHeader(name, value); err != nil {
		return err
	}
	if index < 0 {
		return fmt.Errorf("filter: negative header index %d", index)
	}
	return m.record(EditInsertHeader, Edit{Kind: InsertHeader, Index: index, Name: name, Value: value})
}

// ChangeHeader replaces the value of the index-th (1-based) header called
// name. An empty value deletes it, as on the wire.
func (m *Modifier) ChangeHeader(name string, index int, value string) error {
	if value == "" {
		return m.DeleteHeader(name, index)
	}
	if err := checkHeader(name, value); err != nil {
		return err
	}
	if index < 1 {
		return fmt.Errorf("filter: header index %d is not 1-based", index)
	}
	return m.record(EditChangeHeader, Edit{Kind: ChangeHeader, Name: name, Index: index, Value: value})
}

// DeleteHeader deletes the index-th (1-based) header called name.
func (m *Modifier) DeleteHeader(name string, index int) error {
	if err := checkHeader(name, ""); err != nil {
		return err
	}
	if index < 1 {
		return fmt.Errorf("filter: header index %d is not 1-based", index)
	}
	return m.record(EditChangeHeader, Edit{Kind: DeleteHeader, Name: name, Index: index})
}

func checkAddress(a envelope.Address) error {
	if strings.ContainsAny(a.Addr, "\r\n\x00<>") {
		return fmt.Errorf("filter: bad address %q", a.Addr)
	}
	if strings.ContainsAny(a.ParamString(), "\r\n\x00") {
		return fmt.Errorf("filter: bad ESMTP parameters for %q", a.Addr)
	}
	return nil
}

// AddRecipient adds a recipient, with ESMTP parameters if rcpt has any.
func (m *Modifier) AddRecipient(rcpt envelope.Address) error {
	if err := checkAddress(rcpt); err != nil {
		return err
	}
	need := EditAddRecipient
	if len(rcpt.Params) > 0 {
		need = EditAddRecipientParams
	}
	return m.record(need, Edit{Kind: AddRecipient, Address: rcpt})
}

// DeleteRecipient removes the recipient addr (as given at RCPT).
func (m *Modifier) DeleteRecipient(addr string) error {
	if err := checkAddress(envelope.Address{Addr: addr}); err != nil {
		return err
	}
	return m.record(EditDeleteRecipient, Edit{Kind: DeleteRecipient, Address: envelope.Address{Addr: addr}})
}

// ChangeSender replaces the envelope sender, with ESMTP parameters if from
// has any.
func (m *Modifier) ChangeSender(from envelope.Address) error {
	if err := checkAddress(from); err != nil {
		return err
	}
	return m.record(EditChangeSender, Edit{Kind: ChangeSender, Address: from})
}

// ReplaceBody replaces the message body with what body yields (CRLF line
// ends, not dot-stuffed). body is read after EndOfMessage returns.
func (m *Modifier) ReplaceBody(body io.Reader) error {
	if body == nil {
		return errors.New("filter: nil body")
	}
	return m.record(EditReplaceBody, Edit{Kind: ReplaceBody, Body: body})
}

// Quarantine puts the message on hold with reason.
func (m *Modifier) Quarantine(reason string) error {
	if reason == "" || strings.ContainsAny(reason, "\r\n\x00") {
		return fmt.Errorf("filter: bad quarantine reason %q", reason)
	}
	return m.record(EditQuarantine, Edit{Kind: Quarantine, Reason: reason})
}

// Progress tells the MTA the filter is still working, resetting its
// timeout. Call it during a long EndOfMessage.
func (m *Modifier) Progress(ctx context.Context) error {
	if m.progress == nil {
		return nil
	}
	return m.progress(ctx)
}

// apply records e, already checked by another Modifier, without checking
// declarations again. Chain uses it to pass a member's edits through.
func (m *Modifier) apply(e Edit) { m.edits = append(m.edits, e) }
