package filter

import (
	"fmt"
	"strconv"
	"strings"
)

// Action is what a verdict tells the MTA to do.
type Action uint8

// Actions. The zero value is ActionContinue.
const (
	// ActionContinue lets the transaction go on to the next stage.
	ActionContinue Action = iota
	// ActionAccept accepts: no more calls to this filter for the rest of the
	// message (at connection stages: of the connection).
	ActionAccept
	// ActionReject refuses: the connection at connect and HELO, the message
	// at MAIL and later stages, only this recipient at RCPT.
	ActionReject
	// ActionTempFail refuses temporarily, with the same scope as reject.
	ActionTempFail
	// ActionDiscard accepts the message from the client and throws it away.
	ActionDiscard
	// ActionSkip, at a body chunk, skips the rest of the body for this filter.
	ActionSkip
)

var actionNames = [...]string{"continue", "accept", "reject", "tempfail", "discard", "skip"}

func (a Action) String() string {
	if int(a) < len(actionNames) {
		return actionNames[a]
	}
	return "action(" + strconv.Itoa(int(a)) + ")"
}

// Reply is an SMTP reply a filter wants the client to see: a 4xx or 5xx
// code, an optional RFC 3463 enhanced status code whose class matches the
// code's first digit, and one or more text lines.
type Reply struct {
	Code     int
	Enhanced string // "5.7.1"; empty for none
	Lines    []string
}

// Validate reports whether r can be sent: a 4xx or 5xx code, a matching
// enhanced code class, and lines free of CR, LF and NUL.
func (r Reply) Validate() error {
	if r.Code < 400 || r.Code > 599 {
		return fmt.Errorf("filter: reply code %d is not 4xx or 5xx", r.Code)
	}
	if r.Enhanced != "" {
		if err := checkEnhanced(r.Enhanced, r.Code/100); err != nil {
			return err
		}
	}
	for _, l := range r.Lines {
		if strings.ContainsAny(l, "\r\n\x00") {
			return fmt.Errorf("filter: reply line %q contains CR, LF or NUL", l)
		}
	}
	return nil
}

func checkEnhanced(e string, class int) error {
	parts := strings.Split(e, ".")
	if len(parts) != 3 {
		return fmt.Errorf("filter: enhanced status code %q is not class.subject.detail", e)
	}
	for _, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n > 999 || len(p) > 3 {
			return fmt.Errorf("filter: enhanced status code %q is malformed", e)
		}
	}
	if parts[0] != strconv.Itoa(class) {
		return fmt.Errorf("filter: enhanced status code %q does not match reply class %dxx", e, class)
	}
	return nil
}

// String renders the reply as SMTP lines joined by CRLF, without the final
// CRLF: "550-5.7.1 first\r\n550 5.7.1 last".
func (r Reply) String() string {
	lines := r.Lines
	if len(lines) == 0 {
		lines = []string{""}
	}
	var b strings.Builder
	for i, l := range lines {
		if i > 0 {
			b.WriteString("\r\n")
		}
		b.WriteString(strconv.Itoa(r.Code))
		if i < len(lines)-1 {
			b.WriteByte('-')
		} else {
			b.WriteByte(' ')
		}
		if r.Enhanced != "" {
			b.WriteString(r.Enhanced)
			if l != "" {
				b.WriteByte(' ')
			}
		}
		b.WriteString(l)
	}
	return b.String()
}

// Verdict is a filter's answer at one stage. Reply, when set, is the exact
// SMTP reply for a reject or tempfail; otherwise the MTA uses its default.
// A tempfail whose reply code is 421 means "answer and close the
// connection" (RFC 5321 §3.8): the SMTP engine does so, and a milter
// client uses it for a milter that asked to shut the session down.
type Verdict struct {
	Action Action
	Reply  *Reply
}

// The verdicts without a custom reply.
var (
	Continue = Verdict{Action: ActionContinue}
	Accept   = Verdict{Action: ActionAccept}
	Reject   = Verdict{Action: ActionReject}
	TempFail = Verdict{Action: ActionTempFail}
	Discard  = Verdict{Action: ActionDiscard}
	Skip     = Verdict{Action: ActionSkip}
)

// CustomReply returns a reject (5xx) or tempfail (4xx) verdict with the
// given reply. Several lines give a multi-line reply. An invalid reply (see
// Reply.Validate) is reported when the verdict is used, not here, so that
// CustomReply can be used in expressions.
func CustomReply(code int, enhanced string, lines ...string) Verdict {
	a := ActionReject
	if code/100 == 4 {
		a = ActionTempFail
	}
	return Verdict{Action: a, Reply: &Reply{Code: code, Enhanced: enhanced, Lines: lines}}
}

// Terminal reports whether the verdict ends the message (or recipient):
// reject, tempfail or discard.
func (v Verdict) Terminal() bool {
	return v.Action == ActionReject || v.Action == ActionTempFail || v.Action == ActionDiscard
}

func (v Verdict) String() string {
	if v.Reply != nil {
		return v.Action.String() + " " + strings.ReplaceAll(v.Reply.String(), "\r\n", " / ")
	}
	return v.Action.String()
}
