package access

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/sluice-mta/sluice/filter"
)

// maxReason bounds a quarantine reason.
const maxReason = 2048

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
	// reply. Empty: the MTA's default reply.
	Reply string
	// Reason is the quarantine reason. Empty: "access rule N: PATTERN".
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

// New compiles and validates opts. Errors name the rule, counting from 1.
func New(opts Options) (*Filter, error) {
	f := &Filter{}
	for i, r := range opts.Rules {
		c, err := compileRule(i+1, r)
		if err != nil {
			return nil, fmt.Errorf("filter/access: rule %d: %w", i+1, err)
		}
		f.rules[c.pat.key] = append(f.rules[c.pat.key], c)
	}
	f.needs = f.computeNeeds()
	return f, nil
}

func compileRule(n int, r Rule) (rule, error) {
	k, text, err := matchKey(r)
	if err != nil {
		return rule{}, err
	}
	c := rule{}
	if c.pat, err = parsePattern(k, text); err != nil {
		return rule{}, fmt.Errorf("%s %q: %w", k, text, err)
	}
	name := strings.ToLower(strings.TrimSpace(r.Action))
	if name == "" {
		return rule{}, errors.New("no action (reject, tempfail, discard, quarantine or accept)")
	}
	if c.act = actionNames[name]; c.act == 0 {
		return rule{}, fmt.Errorf("action %q is not reject, tempfail, discard, quarantine or accept", r.Action)
	}
	if r.Reply != "" {
		if c.act != actReject && c.act != actTempFail {
			return rule{}, fmt.Errorf("reply is only for reject and tempfail, not %s", name)
		}
		if c.reply, err = parseReply(r.Reply, c.act); err != nil {
			return rule{}, fmt.Errorf("reply %q: %w", r.Reply, err)
		}
	}
	if r.Reason != "" && c.act != actQuarantine {
		return rule{}, fmt.Errorf("reason is only for quarantine, not %s", name)
	}
	if c.act == actQuarantine {
		c.reason = r.Reason
		if c.reason == "" {
			c.reason = fmt.Sprintf("access rule %d: %s", n, c.pat.text)
		}
		if err := checkReason(c.reason); err != nil {
			return rule{}, err
		}
	}
	return c, nil
}

// matchKey returns the one match key set in r.
func matchKey(r Rule) (key, string, error) {
	fields := [numKeys]string{r.Client, r.Helo, r.Sender, r.Recipient}
	var set []string
	k := numKeys
	for i, v := range fields {
		if v != "" {
			set = append(set, key(i).String())
			k = key(i)
		}
	}
	switch len(set) {
	case 0:
		return 0, "", errors.New("no match key: set one of client, helo, sender, recipient")
	case 1:
		return k, fields[k], nil
	}
	return 0, "", fmt.Errorf("more than one match key (%s): set exactly one", strings.Join(set, ", "))
}

func checkReason(s string) error {
	if len(s) > maxReason {
		return fmt.Errorf("reason is %d bytes, over %d", len(s), maxReason)
	}
	if strings.TrimSpace(s) == "" {
		return errors.New("reason is blank")
	}
	for _, c := range s {
		if c < ' ' || c == 0x7f {
			return fmt.Errorf("reason contains control character %q", c)
		}
	}
	return nil
}

// computeNeeds calls a stage only when a rule uses it: the stage of each
// rule's key, Mail for a connection-level discard (which takes effect on
// each message), and end of message for quarantine. A stage whose rules
// all quarantine never answers.
func (f *Filter) computeNeeds() filter.Needs {
	var used, answered filter.StageSet
	var n filter.Needs
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
