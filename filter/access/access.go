package access

import (
	"context"
	"errors"

	"github.com/sluice-mta/sluice/filter"
)

// Options configures the filter. The zero value has no rules and lets
// everything through.
type Options struct {
	Rules []Rule
}

// Rule is one access rule. Exactly one of Client, Helo, Sender and
// Recipient is set; see the package documentation for the pattern forms.
type Rule struct {
	Client    string // IP, CIDR network, or /regex/ on the client host name
	Helo      string // pattern for the HELO/EHLO name
	Sender    string // pattern for the MAIL FROM address; <> is the null sender
	Recipient string // pattern for a RCPT TO address

	// Action is reject, tempfail, discard, quarantine or accept
	// (case-insensitive).
	Action string
	// Reply is the SMTP reply of a reject or tempfail, e.g.
	// "550 5.7.1 Go away"; "\n" separates the lines of a multi-line
	// reply, each starting with the code and a space ("550 5.7.1 one\n550
	// two"). Empty: the MTA's default reply.
	Reply string
	// Reason is the quarantine reason, for quarantine only. Empty:
	// "access rule N: PATTERN", N counting from 1.
	Reason string
}

// action is a rule's decision.
type action uint8

const (
	actReject action = iota + 1
	actTempFail
	actDiscard
	actQuarantine
	actAccept
)

var actionNames = map[string]action{
	"reject": actReject, "tempfail": actTempFail, "discard": actDiscard,
	"quarantine": actQuarantine, "accept": actAccept,
}

// rule is a compiled Rule.
type rule struct {
	pat    *pattern
	act    action
	reply  *filter.Reply // reject and tempfail; nil for the MTA's default
	reason string        // quarantine
}

// Filter applies access rules. It is safe for concurrent use.
type Filter struct {
	rules [numKeys][]rule // per key, in configured order
	needs filter.Needs
}

// New compiles and validates opts. It checks every rule and reports
// every problem: each is a *RuleError naming the rule (counting from 0)
// and the field; several are joined with errors.Join.
func New(opts Options) (*Filter, error) {
	f := &Filter{}
	var errs []error
	for i, r := range opts.Rules {
		c, rerrs := compileRule(i, r)
		if len(rerrs) > 0 {
			errs = append(errs, rerrs...)
			continue
		}
		f.rules[c.pat.key] = append(f.rules[c.pat.key], c)
	}
	switch len(errs) {
	case 0:
	case 1:
		return nil, errs[0]
	default:
		return nil, errors.Join(errs...)
	}
	f.needs = f.computeNeeds()
	return f, nil
}

// computeNeeds calls a stage only when a rule uses it: the stage of each
// rule's key, Mail for a connection-level discard (which takes effect on
// each message), and end of message for quarantine. A stage whose rules
// all quarantine never answers.
func (f *Filter) computeNeeds() filter.Needs {
	var used, answered filter.StageSet
	n := filter.Needs{Macros: map[filter.Stage][]string{}} // the rules read the stages' arguments only
	for k, rules := range f.rules {
		st := key(k).stage()
		for _, r := range rules {
			used |= filter.Stages(st)
			switch {
			case r.act == actQuarantine:
				used |= filter.Stages(filter.StageEndOfMessage)
				n.Edits = filter.EditQuarantine
			case r.act == actDiscard && (key(k) == keyClient || key(k) == keyHelo):
				used |= filter.Stages(filter.StageMail)
				answered |= filter.Stages(filter.StageMail)
			default:
				answered |= filter.Stages(st)
			}
		}
	}
	n.Skip = filter.AllStages &^ used
	n.NoReply = used &^ answered &^ filter.Stages(filter.StageEndOfMessage)
	return n
}

// Name implements filter.Named.
func (f *Filter) Name() string { return "access" }

// Needs implements filter.Filter.
func (f *Filter) Needs() filter.Needs { return f.needs }

// NewSession implements filter.Filter.
func (f *Filter) NewSession(context.Context, filter.Macros) (filter.Session, error) {
	return &session{f: f}, nil
}
