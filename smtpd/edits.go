package smtpd

import (
	"io"
	"strings"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/filter"
)

// edited is a message after the filters' end-of-message edits.
type edited struct {
	fields     []filter.HeaderField
	from       envelope.Address
	rcpts      []envelope.Address
	quarantine string
	body       io.Reader // a replaced body, or nil
}

// applyEdits applies the edits in order: header edits as Postfix's
// cleanup does (filter.ApplyHeaderEdit), recipients added (once) and
// deleted, the sender changed (keeping its parameters when the edit has
// none), the body replaced (the last replacement wins), quarantine. An
// edit that would put a malformed name or address on the wire is skipped
// and logged.
func (s *session) applyEdits(tx *transaction, fields []filter.HeaderField, edits []filter.Edit) edited {
	ed := edited{fields: fields, from: tx.from, rcpts: append([]envelope.Address(nil), tx.rcpts...)}
	for _, e := range edits {
		if !s.validEdit(e) {
			s.log.Warn("smtpd: filter edit skipped", "id", tx.draft.ID(), "edit", e.String())
			continue
		}
		switch e.Kind {
		case filter.AddHeader, filter.InsertHeader, filter.ChangeHeader:
			if !s.needs.HeaderLeadingSpace {
				e.Value = " " + e.Value
			}
			ed.fields = filter.ApplyHeaderEdit(ed.fields, e)
		case filter.DeleteHeader:
			ed.fields = filter.ApplyHeaderEdit(ed.fields, e)
		case filter.AddRecipient:
			if !hasRecipient(ed.rcpts, e.Address.Addr) {
				ed.rcpts = append(ed.rcpts, e.Address)
			}
		case filter.DeleteRecipient:
			ed.rcpts = deleteRecipient(ed.rcpts, e.Address.Addr)
		case filter.ChangeSender:
			from := e.Address
			if len(from.Params) == 0 {
				from.Params = tx.from.Params
			}
			ed.from = from
		case filter.ReplaceBody:
			ed.body = e.Body
		case filter.Quarantine:
			ed.quarantine = e.Reason
		}
	}
	return ed
}

// validEdit checks what an edit would put on the wire.
func (s *session) validEdit(e filter.Edit) bool {
	switch e.Kind {
	case filter.AddHeader, filter.InsertHeader, filter.ChangeHeader, filter.DeleteHeader:
		return validFieldName(e.Name)
	case filter.AddRecipient:
		params := e.Address.ParamString()
		p, perr := parseParams(params)
		return validMailbox(e.Address.Addr) && perr == nil && checkRcptParams(p) == nil
	case filter.DeleteRecipient:
		return e.Address.Addr != ""
	case filter.ChangeSender:
		_, perr := parseParams(e.Address.ParamString())
		return (e.Address.Addr == "" || validMailbox(e.Address.Addr)) && perr == nil
	case filter.ReplaceBody:
		return e.Body != nil
	case filter.Quarantine:
		return !strings.ContainsAny(e.Reason, "\r\n\x00")
	}
	return false
}

// validFieldName: printable ASCII but ":" (RFC 5322 §3.6.8).
func validFieldName(n string) bool {
	if n == "" {
		return false
	}
	for i := 0; i < len(n); i++ {
		if c := n[i]; c <= ' ' || c >= 0x7f || c == ':' {
			return false
		}
	}
	return true
}

func deleteRecipient(rcpts []envelope.Address, addr string) []envelope.Address {
	out := rcpts[:0]
	for _, r := range rcpts {
		if !strings.EqualFold(r.Addr, addr) {
			out = append(out, r)
		}
	}
	return out
}
