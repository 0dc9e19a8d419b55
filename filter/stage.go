package filter

import "strings"

// Stage is one step of an SMTP session as filters see it.
type Stage uint8

// Stages, in the order a session passes through them.
const (
	StageConnect Stage = iota
	StageHelo
	StageMail
	StageRcpt
	StageData
	StageHeader
	StageEndOfHeaders
	StageBody
	StageEndOfMessage
	StageUnknown
	numStages
)

var stageNames = [numStages]string{"connect", "helo", "mail", "rcpt", "data", "header", "eoh", "body", "eom", "unknown"}

func (s Stage) String() string {
	if s < numStages {
		return stageNames[s]
	}
	return "stage?"
}

// StageSet is a set of stages.
type StageSet uint16

// Stages returns the set holding the given stages.
func Stages(stages ...Stage) StageSet {
	var s StageSet
	for _, st := range stages {
		s |= 1 << st
	}
	return s
}

// AllStages holds every stage.
const AllStages = StageSet(1<<numStages - 1)

// Has reports whether s holds st.
func (s StageSet) Has(st Stage) bool { return s&(1<<st) != 0 }

func (s StageSet) String() string {
	var parts []string
	for st := StageConnect; st < numStages; st++ {
		if s.Has(st) {
			parts = append(parts, st.String())
		}
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// EditSet is the set of end-of-message edits a filter may make. The milter
// server turns it into the SMFIF_* action flags it negotiates.
type EditSet uint16

// Edit kinds.
const (
	EditAddHeader EditSet = 1 << iota
	EditChangeHeader
	EditInsertHeader // also needs EditAddHeader on the wire
	EditAddRecipient
	EditAddRecipientParams
	EditDeleteRecipient
	EditChangeSender
	EditReplaceBody
	EditQuarantine
)

// AllEdits holds every edit kind.
const AllEdits = EditAddHeader | EditChangeHeader | EditInsertHeader | EditAddRecipient |
	EditAddRecipientParams | EditDeleteRecipient | EditChangeSender | EditReplaceBody |
	EditQuarantine

// Has reports whether s holds every edit of e.
func (s EditSet) Has(e EditSet) bool { return s&e == e }

// Needs is what a filter declares about itself, so the engine (or the MTA,
// through milter negotiation) can skip work it does not need.
type Needs struct {
	// Skip lists the stages the filter does not need called (SMFIP_NO*).
	// The zero value calls every stage.
	Skip StageSet
	// NoReply lists the stages whose verdict is always Continue, so the
	// engine need not wait for it (SMFIP_NR_*).
	NoReply StageSet
	// Edits lists the edits the filter may make at end of message (SMFIF_*).
	Edits EditSet
	// Macros lists, per stage, the macros the filter reads (Macros), the
	// lists a milter sends with SMFIR_SETSYMLIST. A value, once set,
	// stays readable at later stages until it changes. A nil map means
	// any macro: the SMTP front-end computes every one it knows, and an
	// MTA sends its default set. A non-nil map, empty when the filter
	// reads none, lets the engine skip the others. Needs may return the
	// same map on every call: callers do not modify it.
	Macros map[Stage][]string
	// RejectedRecipients asks for RCPT calls also for recipients the MTA
	// has already rejected (SMFIP_RCPT_REJ).
	RejectedRecipients bool
	// HeaderLeadingSpace asks for header values verbatim, with the space
	// after the colon (SMFIP_HDR_LEADSPC). Otherwise one leading space is
	// removed.
	HeaderLeadingSpace bool
}
