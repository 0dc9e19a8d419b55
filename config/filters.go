package config

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

// defaultFilters is the built-in filter set used when the file has no
// [filters] table: `sluice milter` without a file visibly does something.
func defaultFilters() Filters {
	return Filters{Headers: &HeadersFilter{
		Add: []HeaderField{{Name: "X-Filtered-By", Value: "sluice"}},
	}}
}

// readFilters reads [filters.*] from the file, or returns the defaults.
func (l *loader) readFilters() Filters {
	t, present := l.raw["filters"]
	if !present {
		return defaultFilters()
	}
	tables, ok := t.(map[string]any)
	if !ok {
		return Filters{} // checkKeys reported it
	}
	var f Filters
	if m, ok := tables["headers"].(map[string]any); ok {
		f.Headers = readHeaders(l.fileReader("filters.headers", m, nil))
	}
	if m, ok := tables["access"].(map[string]any); ok {
		f.Access = l.readAccess(m)
	}
	return f
}

func readHeaders(r *reader) *HeadersFilter {
	h := &HeadersFilter{}
	for i, s := range r.strs("add") {
		name, value, ok := strings.Cut(s, ":")
		k := fmt.Sprintf("add[%d]", i)
		switch {
		case !ok:
			r.fail(k, "want \"Name: value\", got %q", s)
		case !isFieldName(name):
			r.fail(k, "bad header name %q", name)
		case strings.ContainsAny(value, "\r\n\x00"):
			r.fail(k, "header value must not contain CR, LF or NUL")
		default:
			h.Add = append(h.Add, HeaderField{Name: name, Value: strings.TrimSpace(value)})
		}
	}
	for i, name := range r.strs("remove") {
		if !isFieldName(name) {
			r.fail(fmt.Sprintf("remove[%d]", i), "bad header name %q", name)
			continue
		}
		h.Remove = append(h.Remove, name)
	}
	return h
}

// isFieldName reports whether s is an RFC 5322 §3.6.8 field name: one or
// more printable ASCII characters other than colon.
func isFieldName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if c < 33 || c > 126 || c == ':' {
			return false
		}
	}
	return true
}

func (l *loader) readAccess(m map[string]any) *AccessFilter {
	a := &AccessFilter{}
	rules, _ := m["rules"].([]any)
	for i, e := range rules {
		rm, ok := e.(map[string]any)
		if !ok {
			continue // checkKeys reported it
		}
		a.Rules = append(a.Rules, readRule(l.fileReader(fmt.Sprintf("filters.access.rules[%d]", i), rm, nil)))
	}
	return a
}

func readRule(r *reader) AccessRule {
	rule := AccessRule{
		Client:    r.str("client"),
		HELO:      r.str("helo"),
		Sender:    r.str("sender"),
		Recipient: r.str("recipient"),
		Action:    r.enum("action", "action", "reject", "tempfail", "discard", "quarantine", "accept"),
		Reply:     r.str("reply"),
		Reason:    r.str("reason"),
	}
	set := 0
	for _, p := range []string{rule.Client, rule.HELO, rule.Sender, rule.Recipient} {
		if p != "" {
			set++
		}
	}
	if set != 1 {
		r.fail("", "want exactly one of client, helo, sender, recipient; got %d", set)
		return rule
	}
	key, pattern := rule.Match()
	if err := checkPattern(key, pattern); err != nil {
		r.fail(key, "%v", err)
	}
	checkReply(r, rule)
	return rule
}

// checkPattern validates one match pattern of an access rule: regexes
// compile (RE2), client networks parse. The finer syntax of names and
// addresses (address literals, internationalized domains) is the access
// filter's to judge; check-config builds the filters and reports it too.
func checkPattern(key, p string) error {
	if len(p) >= 2 && strings.HasPrefix(p, "/") && strings.HasSuffix(p, "/") {
		if _, err := regexp.Compile(p[1 : len(p)-1]); err != nil {
			return fmt.Errorf("bad regex %s: %v", p, err)
		}
		return nil
	}
	if strings.ContainsFunc(p, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return fmt.Errorf("pattern %q contains a space or control character", p)
	}
	switch {
	case key == "client":
		if pre, err := netip.ParsePrefix(p); err == nil && pre.Masked() != pre {
			return fmt.Errorf("network %s has host bits set (did you mean %s?)", p, pre.Masked())
		}
		if _, err := parsePrefix(p); err != nil {
			return fmt.Errorf("want an address, a CIDR or /regex/, got %q", p)
		}
	case p == "<>" && key != "sender":
		return fmt.Errorf("<> (the null sender) is only for sender rules")
	case key == "helo" && strings.Contains(p, "@"):
		return fmt.Errorf("want a name or /regex/, got %q", p)
	}
	return nil
}

// checkReply validates the custom reply and the reason of a rule.
func checkReply(r *reader, rule AccessRule) {
	if rule.Reason != "" && rule.Action != "quarantine" {
		r.fail("reason", "only for action \"quarantine\" (action is %q)", rule.Action)
	}
	if rule.Reply == "" {
		return
	}
	want := map[string]byte{"reject": '5', "tempfail": '4'}[rule.Action]
	if want == 0 {
		r.fail("reply", "only for actions \"reject\" and \"tempfail\" (action is %q)", rule.Action)
		return
	}
	if err := checkReplyText(rule.Reply, want); err != nil {
		r.fail("reply", "%v", err)
	}
}

// checkReplyText checks a reply such as "550 5.7.1 text": each line (lines
// are separated by "\n") starts with a code of class want and, if it has
// an enhanced status code (RFC 3463), one of the same class.
func checkReplyText(s string, want byte) error {
	if strings.ContainsAny(s, "\r\x00") {
		return fmt.Errorf("reply %q contains CR or NUL (separate lines with \"\\n\")", s)
	}
	for _, line := range strings.Split(s, "\n") {
		code, rest, _ := strings.Cut(line, " ")
		if len(code) != 3 || code[0] != want || code[1] < '0' || code[1] > '5' || code[2] < '0' || code[2] > '9' {
			return fmt.Errorf("reply %q: want a %cxx code", s, want)
		}
		enh, _, _ := strings.Cut(rest, " ")
		if isEnhancedCode(enh) && enh[0] != want {
			return fmt.Errorf("reply %q: enhanced code %s does not match class %c", s, enh, want)
		}
	}
	return nil
}

// isEnhancedCode reports whether s looks like class.subject.detail.
func isEnhancedCode(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return false
	}
	for _, p := range parts {
		if _, err := strconv.Atoi(p); err != nil || len(p) == 0 || len(p) > 3 {
			return false
		}
	}
	return true
}
