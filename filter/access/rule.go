package access

import (
	"errors"
	"fmt"
	"strings"
)

// maxReason bounds a quarantine reason.
const maxReason = 2048

// RuleError is one problem with one rule of Options.Rules.
type RuleError struct {
	// Index is the rule's position in Options.Rules, counting from 0.
	Index int
	// Key is the Rule field at fault, named as in a configuration file:
	// "client", "helo", "sender", "recipient", "action", "reply" or
	// "reason"; "" when the fault is the rule as a whole (no match key,
	// or more than one).
	Key string
	// Err says what is wrong, without naming the rule or the field.
	Err error
}

// Error reads "filter/access: rules[2].reply: reply "554 4.7.1 no":
// enhanced code 4.7.1 does not match class 5".
func (e *RuleError) Error() string {
	where := fmt.Sprintf("rules[%d]", e.Index)
	if e.Key != "" {
		where += "." + e.Key
	}
	return "filter/access: " + where + ": " + e.Err.Error()
}

// Unwrap returns Err.
func (e *RuleError) Unwrap() error { return e.Err }

// actionList is what an action may be, for error messages.
const actionList = "reject, tempfail, discard, quarantine, accept"

// compileRule compiles rule i, or returns every problem it has.
func compileRule(i int, r Rule) (rule, []error) {
	var errs []error
	fail := func(k string, err error) {
		errs = append(errs, &RuleError{Index: i, Key: k, Err: err})
	}
	c := rule{}
	k, text, err := matchKey(r)
	if err != nil {
		fail("", err)
	} else if c.pat, err = parsePattern(k, text); err != nil {
		fail(k.String(), err)
	}
	name, err := parseAction(r.Action)
	if err != nil {
		fail("action", err)
		return rule{}, errs // reply and reason depend on the action
	}
	c.act = actionNames[name]
	if r.Reason != "" && c.act != actQuarantine {
		fail("reason", fmt.Errorf("only for action \"quarantine\" (action is %q)", name))
	} else if err := checkReason(r.Reason); err != nil {
		fail("reason", err)
	}
	if r.Reply != "" {
		if c.reply, err = compileReply(r.Reply, name, c.act); err != nil {
			fail("reply", err)
		}
	}
	if len(errs) > 0 {
		return rule{}, errs
	}
	if c.act == actQuarantine {
		c.reason = r.Reason
		if c.reason == "" {
			c.reason = fmt.Sprintf("access rule %d: %s", i+1, c.pat.text)
		}
	}
	return c, nil
}

// matchKey returns the one match key set in r.
func matchKey(r Rule) (key, string, error) {
	fields := [numKeys]string{r.Client, r.Helo, r.Sender, r.Recipient}
	n, k := 0, numKeys
	for i, v := range fields {
		if v != "" {
			n, k = n+1, key(i)
		}
	}
	if n != 1 {
		return 0, "", fmt.Errorf("want exactly one of client, helo, sender, recipient; got %d", n)
	}
	return k, fields[k], nil
}

// parseAction returns the action's name in lower case.
func parseAction(s string) (string, error) {
	name := strings.ToLower(strings.TrimSpace(s))
	if name == "" {
		return "", fmt.Errorf("missing (want %s)", actionList)
	}
	if actionNames[name] == 0 {
		return "", fmt.Errorf("unknown action %q (want %s)", s, actionList)
	}
	return name, nil
}

// checkReason checks a configured quarantine reason; "" is the default.
func checkReason(s string) error {
	if s == "" {
		return nil
	}
	if len(s) > maxReason {
		return fmt.Errorf("too long: %d bytes, over %d", len(s), maxReason)
	}
	if strings.TrimSpace(s) == "" {
		return errors.New("blank (leave it out for the default reason)")
	}
	for _, c := range s {
		if c < ' ' || c == 0x7f {
			return fmt.Errorf("%q contains control character %q", s, c)
		}
	}
	return nil
}
